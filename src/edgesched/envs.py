"""Gymnasium ids of the single-agent environments, registered when ``edgesched`` is imported.

The entry points are ``"module:attr"`` strings, so registering imports no world:

>>> import gymnasium
>>> env = gymnasium.make("edgesched/Aset-v0", scenario="aset-mixed", duration_s=10)
>>> env.unwrapped.base.name
'aset-mixed'
"""

from __future__ import annotations

import gymnasium

#: id -> (entry point, default scenario, the world whose presets it takes)
ENVIRONMENTS = {
    "edgesched/Placement-v0": ("edgesched.placement.env:PlacementGymEnv", "placement"),
    "edgesched/Aset-v0": ("edgesched.dispatch.streams.env:aset_env", "streams"),
    "edgesched/Ecsrl-v0": ("edgesched.dispatch.devices.env:ecsrl_env", "devices"),
}


def register() -> None:
    """Register every id with Gymnasium (once; later calls do nothing)."""
    for env_id, (entry, _) in ENVIRONMENTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry)
