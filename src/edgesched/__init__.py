"""edgesched: learning-based scheduling of AI workloads on distributed edge clusters."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgesched")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

from edgesched.envs import register as _register_envs

_register_envs()  # gymnasium.make("edgesched/Aset-v0", scenario=...) after `import edgesched`

__all__ = ["__version__"]
