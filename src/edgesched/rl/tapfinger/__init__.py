"""TapFinger (Li et al., IEEE TPDS 2023): the graph view of the placement world, the HAN +
pointer network, multi-agent PPO, checkpoints and the learned scheduler."""
