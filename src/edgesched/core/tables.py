"""Reading CSV tables (traces, measured profiles) with errors that name the line and column."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edgesched.core.errors import ConfigError

Parser = Callable[[str], Any]


def _float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def _int(text: str) -> int:
    value = float(text)
    if not value.is_integer():
        raise ValueError("not a whole number")
    return int(value)


PARSERS: dict[str, Parser] = {"float": _float, "int": _int, "str": str}
EXPECTED = {"float": "a number", "int": "a whole number", "str": "text"}


def read_table(
    path: str | Path,
    required: Mapping[str, str],
    optional: Mapping[str, str] | None = None,
    *,
    what: str = "table",
) -> list[dict[str, Any]]:
    """Read a CSV file with a header into one dict per row.

    ``required`` and ``optional`` map column names to ``"float"``, ``"int"`` or ``"str"``.
    An empty optional cell becomes None. Unknown columns are refused (a typo would otherwise be
    silently dropped).

    Raises:
        ConfigError: naming the file, the line (1-based, the header is line 1), the column and
            what was expected.
    """
    optional = dict(optional or {})
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}.") from None
    rows: list[dict[str, Any]] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ConfigError(f"{path}: the {what} is empty; expected a header line.") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise ConfigError(
                f"{path}, line 1: the {what} has no column {', '.join(repr(m) for m in missing)}; "
                f"expected columns {', '.join(required)} (optional: "
                f"{', '.join(optional) or 'none'}), found {', '.join(header)}."
            )
        unknown = [c for c in header if c not in required and c not in optional]
        if unknown:
            raise ConfigError(
                f"{path}, line 1: unknown column {', '.join(repr(u) for u in unknown)} in the "
                f"{what}; expected {', '.join([*required, *optional])}."
            )
        kinds = {**required, **optional}
        for lineno, cells in enumerate(reader, start=2):
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise ConfigError(
                    f"{path}, line {lineno}: {len(cells)} cells, expected {len(header)} "
                    f"(one per column of the header)."
                )
            row: dict[str, Any] = {}
            for column, raw in zip(header, cells, strict=True):
                text = raw.strip()
                kind = kinds[column]
                if not text:
                    if column in required:
                        raise ConfigError(
                            f"{path}, line {lineno}, column '{column}': empty; expected "
                            f"{EXPECTED[kind]}."
                        )
                    row[column] = None
                    continue
                try:
                    row[column] = PARSERS[kind](text)
                except ValueError:
                    raise ConfigError(
                        f"{path}, line {lineno}, column '{column}': {text!r} is not "
                        f"{EXPECTED[kind]}."
                    ) from None
            row["_line"] = lineno
            rows.append(row)
    return rows
