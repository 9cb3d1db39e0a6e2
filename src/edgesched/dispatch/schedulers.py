"""Every dispatch scheduler by name: the ten static policies, and the learned ``aset`` once
:mod:`edgesched.rl.aset` is imported (it registers itself; the world never imports ``rl``).

Example:
    >>> from edgesched.dispatch.schedulers import make, names
    >>> make("closest").name
    'closest'
    >>> import edgesched.rl.aset
    >>> "aset" in names()
    True
"""

from __future__ import annotations

from typing import Any

from edgesched.core.registry import Registry
from edgesched.dispatch.policies import STATIC_POLICIES
from edgesched.dispatch.simulator import DispatchScheduler

SCHEDULERS: Registry[DispatchScheduler] = Registry("dispatch scheduler")
for _cls in STATIC_POLICIES:
    SCHEDULERS.register(_cls.name, _cls, description=(_cls.__doc__ or "").strip())


def make(name: str, **kwargs: Any) -> DispatchScheduler:
    """Build a dispatch scheduler by name (ConfigError for an unknown one)."""
    return SCHEDULERS.make(name, **kwargs)


def names() -> list[str]:
    return SCHEDULERS.names()
