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
    try:
        with handle:
            return _read_rows(path, handle, required, optional, what)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x}); expected a CSV {what}."
        ) from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a readable CSV {what} ({exc}).") from None


#: Largest CSV cell and file read.
MAX_CELL_CHARS = 4096
MAX_TABLE_BYTES = 64 * 2**20


def _read_rows(
    path: Path, handle: Any, required: Mapping[str, str], optional: Mapping[str, str], what: str
) -> list[dict[str, Any]]:
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise ConfigError(f"{path}: larger than 64 MiB; not a {what}.")
    rows: list[dict[str, Any]] = []
    previous = csv.field_size_limit(MAX_CELL_CHARS)
    try:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ConfigError(f"{path}: the {what} is empty; expected a header line.") from None
        except csv.Error as exc:
            raise ConfigError(f"{path}, line 1: not a readable CSV header ({exc}).") from None
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise ConfigError(
                f"{path}, line 1: column {', '.join(repr(c) for c in repeated)} appears more "
                "than once in the header."
            )
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
        lineno = 1
        for lineno, cells in _numbered(reader, path):
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
    finally:
        csv.field_size_limit(previous)
    return rows


def _numbered(reader: Any, path: Path) -> Any:
    """The rows of ``reader`` with their line numbers; a CSV error names its line."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ConfigError(
                f"{path}, line {reader.line_num}: not a readable CSV line ({exc}; a cell is at "
                f"most {MAX_CELL_CHARS} characters)."
            ) from None
        yield reader.line_num, cells
