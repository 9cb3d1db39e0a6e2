"""TapFinger's training configuration: one documented field each, saved in every checkpoint.

This module imports no torch, so the command line can list every field as an option of
`edgesched train tapfinger` without loading the learning stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved in every checkpoint.

    Each field documents itself (``metadata["help"]``); ``edgesched train tapfinger --help``
    lists them all as options.
    """

    scenario: str = field(default="synthetic-3", metadata={"help": "placement preset or YAML path"})
    variant: str = field(
        default="tapfinger",
        metadata={"help": "network variant (tapfinger, no-han, no-pointer, vanilla)"},
    )
    seed: int = field(
        default=0, metadata={"help": "seeds the network, the sampling and the training worlds"}
    )
    mode: str | None = field(
        default=None,
        metadata={"help": 'override the scenario\'s mode ("multi-task" or "single-task")'},
    )
    tasks: int | None = field(default=None, metadata={"help": "override the tasks per episode"})
    num_envs: int = field(
        default=16,
        metadata={"help": "worlds stepped in lockstep (one batched forward pass per round)"},
    )
    rollout: int = field(default=32, metadata={"help": "decision rounds per world per update"})
    epochs: int = field(default=4, metadata={"help": "PPO passes over each rollout"})
    minibatches: int = field(default=4, metadata={"help": "minibatches per pass"})
    lr: float = field(
        default=5e-4,
        metadata={"help": "initial learning rate (Adam), decayed linearly to ``lr * lr_final``"},
    )
    lr_final: float = field(default=0.1, metadata={"help": "final learning-rate fraction"})
    gamma: float = field(default=1.0, metadata={"help": "discount (1 in the paper)"})
    gae_lambda: float = field(default=0.95, metadata={"help": "GAE's lambda"})
    clip: float = field(default=0.2, metadata={"help": "PPO's ratio clip"})
    ent_coef: float = field(default=0.01, metadata={"help": "entropy bonus"})
    vf_coef: float = field(default=0.5, metadata={"help": "value-loss weight"})
    max_grad_norm: float = field(default=0.5, metadata={"help": "gradient clipping"})
    hidden: int = field(default=64, metadata={"help": "embedding size"})
    heads: int = field(default=4, metadata={"help": "attention heads"})
    layers: int = field(default=2, metadata={"help": "HAN layers"})
    steps: int | None = field(
        default=None,
        metadata={"help": "stop after this many environment steps (decision rounds, all worlds)"},
    )
    budget_s: float | None = field(
        default=None,
        metadata={"help": "stop after this many seconds of wall time (whichever comes first)"},
    )
    checkpoint_every: int = field(default=20, metadata={"help": "updates between checkpoints"})
    eval_every: int = field(default=10, metadata={"help": "updates between evaluations"})
    eval_seeds: list[int] = field(
        default_factory=lambda: [900, 901, 902, 903],
        metadata={
            "help": "held-out world seeds of the periodic evaluation (sampled actions, a fixed "
            "generator)"
        },
    )
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    eval_max_timesteps: int = field(
        default=2000,
        metadata={
            "help": "an evaluation world still running after this many timesteps counts as "
            "infinite JCT"
        },
    )
    warm_start: str | None = field(
        default=None,
        metadata={
            "help": "behaviour-cloning warm start: imitate this non-elastic placement scheduler "
            "(e.g. optimus-np) before PPO; none: plain MAPPO from random weights"
        },
    )
    warm_episodes: int = field(
        default=64, metadata={"help": "warm start: teacher episodes (training-range seeds)"}
    )
    warm_epochs: int = field(default=10, metadata={"help": "warm start: passes over them"})
    warm_lr: float = field(default=1e-3, metadata={"help": "warm start: learning rate (Adam)"})
    reward: str = field(
        default="local",
        metadata={
            "help": "each agent's reward: local (the paper's: minus the tasks running, pending "
            "and queued at its own cluster) or team (minus every task in the system, whose sum "
            "over an episode is the total JCT)"
        },
    )
    critic_warmup: int = field(
        default=0,
        metadata={
            "help": "PPO updates at the start that train the critic head only (the actor and "
            "the shared encoder stay as the warm start left them), so that the first policy "
            "updates see fitted advantages"
        },
    )
    decoding: str = field(
        default="sample",
        metadata={
            "help": "how the periodic evaluation and the shipped scheduler decide: sample (from "
            "the policy) or greedy (its most likely action)"
        },
    )
