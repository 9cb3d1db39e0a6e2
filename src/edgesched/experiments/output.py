"""Run folders: seeds, metadata, and writing outputs all-or-nothing."""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgesched import __version__
from edgesched.core.errors import ConfigError

#: The most seeds one command runs, and the largest seed (both checked before any work).
MAX_SEEDS = 10_000
MAX_SEED = 2**32 - 1


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``N`` (0..N-1), ``A-B`` (A..B inclusive) or ``a,b,c``.

    At most :data:`MAX_SEEDS` seeds, each in 0..:data:`MAX_SEED`.

    Example:
        >>> parse_seeds("3"), parse_seeds("5-7"), parse_seeds("3,7,11")
        ([0, 1, 2], [5, 6, 7], [3, 7, 11])
    """
    text = text.strip()
    shown = text if len(text) <= 40 else text[:37] + "..."
    bad = ConfigError(
        f"--seeds {shown!r}: expected a count N (seeds 0..N-1), a range A-B, or a list a,b,c "
        f"of whole numbers in 0..{MAX_SEED}, at most {MAX_SEEDS} seeds."
    )
    try:
        if "," in text:
            parts = [p for p in text.split(",") if p.strip()]
            if len(parts) > MAX_SEEDS:
                raise bad
            seeds = [int(p) for p in parts]
        elif "-" in text:
            lo, hi = (int(p) for p in text.split("-", 1))
            if hi < lo or lo < 0 or hi > MAX_SEED or hi - lo + 1 > MAX_SEEDS:
                raise bad
            seeds = list(range(lo, hi + 1))
        else:
            n = int(text)
            if n < 1 or n > MAX_SEEDS:
                raise bad
            seeds = list(range(n))
    except ValueError:  # not a whole number (int() also refuses thousands of digits)
        raise bad from None
    if not seeds or any(s < 0 or s > MAX_SEED for s in seeds):
        raise bad
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {shown!r}: a seed is repeated.")
    return seeds


def git_commit() -> str | None:
    """The commit of the source tree edgesched runs from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_metadata() -> dict[str, Any]:
    """What every summary records beside its numbers."""
    return {
        "version": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def timestamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _unwritable(path: Path, exc: OSError) -> ConfigError:
    """The one-paragraph refusal of an output location the system will not let us use."""
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        why = f"{exc.filename or path.parent} is a file, not a folder"
    else:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        why = f"cannot write there{where}: {exc.strerror or exc}"
    return ConfigError(
        f"--out {path}: {why}; choose a folder you can write to (nothing was written)."
    )


def check_output_dir(path: Path) -> None:
    """Refuse an output folder that already holds something (nothing is overwritten)."""
    try:
        taken = path.exists() and (not path.is_dir() or any(path.iterdir()))
    except OSError as exc:
        raise _unwritable(path, exc) from None
    if taken:
        raise ConfigError(
            f"--out {path}: already exists and is not an empty folder; choose a new folder "
            "(nothing was written)."
        )


def _make_parents(path: Path) -> list[Path]:
    """Create the missing parents of ``path``; return them, deepest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_empty(missing)
        raise _unwritable(path, exc) from None
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove each folder in turn while it is empty (deepest first)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def claim_output(path: Path, *, reuse: bool = False) -> Iterator[None]:
    """Hold an exclusive claim on the output folder ``path`` for the duration of the block.

    The claim is an ``flock`` on ``.{name}.lock`` beside ``path`` (released by the kernel if
    the process dies); a second run aimed at the same folder is refused at once. Under the
    claim ``path`` is checked again to be absent or empty (unless ``reuse``, for a run that
    goes on writing into its own folder). When the block raises, the parent folders made
    for it are removed if empty.

    Raises:
        ConfigError: the folder is taken, held by another run, or cannot be written.
    """
    if not reuse:
        check_output_dir(path)
    created = _make_parents(path)
    lock = path.parent / f".{path.name}.lock"
    fd = -1
    try:
        for _ in range(5):  # a lock file unlinked by its finishing owner: take the new one
            fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                fd = -1
                raise ConfigError(
                    f"--out {path}: another edgesched run is writing to this folder; wait for "
                    "it or choose another --out (nothing was written)."
                ) from None
            if os.path.exists(lock) and os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
            os.close(fd)
            fd = -1
        else:  # pragma: no cover - five owners finishing in a row
            raise ConfigError(f"--out {path}: the folder is busy; try again.")
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        remove_empty(created)
        raise _unwritable(path, exc) from None
    except BaseException:
        remove_empty(created)
        raise
    try:
        if not reuse:
            check_output_dir(path)
        yield
    except BaseException:
        _release(lock, fd)
        remove_empty(created)  # the parents made for a run that left nothing in them
        raise
    _release(lock, fd)


def _release(lock: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        lock.unlink()
    os.close(fd)


@contextlib.contextmanager
def staged_output(path: Path) -> Iterator[Path]:
    """Write into a hidden sibling folder and move it to ``path`` only when all went well.

    ``path`` is claimed first (:func:`claim_output`: a second run aimed at it is refused
    before it runs). On any error or interruption the partial folder is removed, so ``path``
    is either complete or absent.

    Raises:
        ConfigError: ``path`` is taken, claimed by another run, or cannot be written.
    """
    with claim_output(path):
        try:
            partial = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
        except OSError as exc:
            raise _unwritable(path, exc) from None
        try:
            yield partial
            partial.rename(path)  # atomic; replaces ``path`` when it is an empty folder
        except BaseException as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(exc, OSError) and _is_ours(exc, partial, path):
                raise ConfigError(
                    f"--out {path}: writing the results failed: {exc.strerror or exc} "
                    "(disk full or a size limit?); nothing was written."
                ) from None
            raise


def _is_ours(exc: OSError, partial: Path, path: Path) -> bool:
    """Whether an OSError is about the output (no file named, or one in ``partial``)."""
    if not exc.filename:
        return True
    named = os.path.abspath(os.fsdecode(exc.filename))
    return any(named.startswith(os.path.abspath(p)) for p in (partial, path))


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def json_safe(x: Any) -> Any:
    """Values JSON can hold: NaN and infinities become None, numpy scalars Python ones,
    recursively through dicts, lists and tuples."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, float | np.floating):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def text_table(cols: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> list[str]:
    """A console table: a header, a rule, and one line per row; columns in ``left`` are
    left-aligned, the others right-aligned."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" if i in left else f"{{:>{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*cols), fmt.format(*("-" * w for w in widths))] + [
        fmt.format(*r).rstrip() for r in rows
    ]
