"""Registries: look things up by name, never switch on names."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from edgesched.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named factories of one kind of object (schedulers, policies, presets).

    Example:
        >>> shapes = Registry[str]("shape")
        >>> @shapes.register("square", description="four equal sides")
        ... def _square() -> str:
        ...     return "[]"
        >>> shapes.make("square")
        '[]'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._descriptions: dict[str, str] = {}

    def register(
        self, name: str, factory: Callable[..., T] | None = None, *, description: str = ""
    ) -> Any:
        """Register ``factory`` under ``name``; usable as a decorator when factory is None."""

        def add(f: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = f
            self._descriptions[name] = description or (f.__doc__ or "").strip().split("\n")[0]
            return f

        return add(factory) if factory is not None else add

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def names(self) -> list[str]:
        return list(self._factories)

    def description(self, name: str) -> str:
        self._check(name)
        return self._descriptions[name]

    def factory(self, name: str) -> Callable[..., T]:
        self._check(name)
        return self._factories[name]

    def make(self, name: str, **kwargs: Any) -> T:
        """Build the object registered as ``name``.

        Raises:
            ConfigError: unknown name; the message lists the known ones.
        """
        return self.factory(name)(**kwargs)

    def _check(self, name: str) -> None:
        if name not in self._factories:
            close = difflib.get_close_matches(name, self._factories, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self._factories)}."
            )
