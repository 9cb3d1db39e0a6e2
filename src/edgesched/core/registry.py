"""Registries: look things up by name, never switch on names.

An entry is a factory, or a ``"module:attr"`` string naming one (as Gymnasium's registry
does): the module is imported on first use only, so registering imports nothing and no module
is imported for its side effect.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from edgesched.core.errors import ConfigError

T = TypeVar("T")


def load_entry(target: str) -> Any:
    """The object a ``"module:attr"`` string names (``attr`` may be dotted).

    Raises:
        ValueError: the string is not of that form. Import errors propagate unchanged: a
            registered entry that cannot be imported is a bug to see, not to hide.
    """
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"registry entry {target!r}: expected 'module:attr'")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class Entry(Generic[T]):
    """One registered name: its factory (or where to find it), description and tags.

    Tags are plain facts about the entry that callers may filter on (for example
    ``checkpoint=True`` for a learned scheduler that needs one).
    """

    name: str
    target: Callable[..., T] | str
    description: str = ""
    tags: dict[str, Any] = field(default_factory=dict)

    def factory(self) -> Callable[..., T]:
        """The factory, importing its module on first use."""
        if isinstance(self.target, str):
            self.target = load_entry(self.target)
        assert callable(self.target), f"{self.name}: {self.target!r} is not callable"
        return self.target


class Registry(Generic[T]):
    """Named factories of one kind of object (schedulers, policies, presets).

    Example:
        >>> shapes = Registry[str]("shape")
        >>> @shapes.register("square", description="four equal sides")
        ... def _square() -> str:
        ...     return "[]"
        >>> shapes.make("square")
        '[]'
        >>> _ = shapes.register("path", "pathlib:PurePosixPath", description="lazily imported")
        >>> str(shapes.make("path"))
        '.'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self,
        name: str,
        factory: Callable[..., T] | str | None = None,
        *,
        description: str = "",
        **tags: Any,
    ) -> Any:
        """Register ``factory`` (a callable or a ``"module:attr"`` string) under ``name``;
        usable as a decorator when factory is None."""

        def add(f: Callable[..., T] | str) -> Callable[..., T] | str:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            text = description or (
                "" if isinstance(f, str) else (f.__doc__ or "").strip().split("\n")[0]
            )
            self._entries[name] = Entry(name, f, text, dict(tags))
            return f

        return add(factory) if factory is not None else add

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self, **tags: Any) -> list[str]:
        """Registered names in registration order; with ``tags``, those whose tags match."""
        return [
            n
            for n, e in self._entries.items()
            if all(e.tags.get(k, None) == v for k, v in tags.items())
        ]

    def entry(self, name: str) -> Entry[T]:
        """The entry of ``name`` (ConfigError listing the known names)."""
        self._check(name)
        return self._entries[name]

    def description(self, name: str) -> str:
        return self.entry(name).description

    def tags(self, name: str) -> dict[str, Any]:
        return self.entry(name).tags

    def factory(self, name: str) -> Callable[..., T]:
        return self.entry(name).factory()

    def make(self, name: str, **kwargs: Any) -> T:
        """Build the object registered as ``name``.

        Raises:
            ConfigError: unknown name; the message lists the known ones.
        """
        return self.factory(name)(**kwargs)

    def _check(self, name: str) -> None:
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self._entries)}."
            )
