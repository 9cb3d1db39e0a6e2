"""The exceptions edgesched raises on purpose."""

from __future__ import annotations


class EdgeschedError(Exception):
    """Base class of every error edgesched raises deliberately."""


class ConfigError(EdgeschedError, ValueError):
    """Bad input from a user: a scenario, a trace, a name or an option.

    The message is one paragraph that names the file, the line, the field and what was
    expected, so the command line prints it as it is (exit status 2, no traceback).
    """


class SchedulerError(EdgeschedError, RuntimeError):
    """A scheduler returned a decision the world cannot carry out (a bug in the scheduler)."""
