"""Run folders: seeds, metadata, and writing outputs all-or-nothing."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
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


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``N`` (0..N-1), ``A-B`` (A..B inclusive) or ``a,b,c``.

    Example:
        >>> parse_seeds("3"), parse_seeds("5-7"), parse_seeds("3,7,11")
        ([0, 1, 2], [5, 6, 7], [3, 7, 11])
    """
    text = text.strip()
    bad = ConfigError(
        f"--seeds {text!r}: expected a count N (seeds 0..N-1), a range A-B, or a list a,b,c "
        "of whole numbers >= 0."
    )
    try:
        if "," in text:
            seeds = [int(p) for p in text.split(",") if p.strip()]
        elif "-" in text:
            lo, hi = (int(p) for p in text.split("-", 1))
            if hi < lo:
                raise bad
            seeds = list(range(lo, hi + 1))
        else:
            n = int(text)
            if n < 1:
                raise bad
            seeds = list(range(n))
    except ValueError:
        raise bad from None
    if not seeds or any(s < 0 for s in seeds):
        raise bad
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: a seed is repeated.")
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


def check_output_dir(path: Path) -> None:
    """Refuse an output folder that already holds something (nothing is overwritten)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(
            f"--out {path}: already exists and is not an empty folder; choose a new folder "
            "(nothing was written)."
        )


@contextlib.contextmanager
def staged_output(path: Path) -> Iterator[Path]:
    """Write into a hidden sibling folder and move it to ``path`` only when all went well.

    On any error the partial folder is removed, so ``path`` is either complete or absent.
    """
    check_output_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if path.exists():
        path.rmdir()
    partial.rename(path)


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
