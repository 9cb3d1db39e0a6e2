"""The streams setting of the dispatch world (ASET's): client query streams over an ISP edge
network, routed by static policies (or a selector of them, per window) to model variants on
compute clusters. Imports :mod:`edgesched.core` and the shared dispatch tables only."""
