"""Typed configuration: pydantic v2 models, loaded from YAML at the edge, with errors that name
the file, the line, the field and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgesched.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

#: Field types every world's config models share.
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]


class StrictModel(BaseModel):
    """Base of every config model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: str | Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file into plain data and its node tree (for line numbers).

    Raises:
        ConfigError: the file is missing, unreadable, or not valid YAML.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}.") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}.") from None
    return data, node


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest node of ``loc`` that exists in the YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def describe_validation_error(
    exc: ValidationError, source: str, node: yaml.Node | None = None
) -> str:
    """One paragraph per problem: where, which field, what was expected, what was found."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(node, loc)
        where = f"{source}, line {line}" if line is not None else source
        found = err.get("input")
        shown = "" if err["type"] == "missing" else f" (found {found!r})"
        parts.append(f"{where}: field '{field}': {err['msg']}{shown}.")
    return " ".join(parts)


def load_model(model: type[M], path: str | Path, data: Any = None, node: Any = None) -> M:
    """Validate a YAML file (or already parsed ``data`` from it) against ``model``.

    Raises:
        ConfigError: with file, line, field and expectation for every problem found.
    """
    if data is None:
        data, node = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, str(path), node)) from None


def read_scenario(model: type[M], path: str | Path, name: str | None = None) -> M:
    """Read and validate a scenario file against ``model``; ``name`` fills in its ``name``
    field when the file has none.

    Raises:
        ConfigError: with file, line, field and expectation for every problem found.
    """
    data, node = read_yaml(path)
    found = load_model(model, path, data, node)
    if name is not None and getattr(found, "name", None) is None:
        found = found.model_copy(update={"name": name})
    return found


def preset_descriptions(folder: Path, default: str | None = None) -> dict[str, str]:
    """The YAML presets of a folder: name (file stem) -> the first line of its
    ``description``; ``default`` first, then by name."""
    out: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml"), key=lambda p: (p.stem != default, p.stem)):
        data, _ = read_yaml(path)
        text = str(data.get("description", "")) if isinstance(data, dict) else ""
        out[path.stem] = text.strip().split("\n")[0]
    return out


def scenario_file(ref: str | Path, folder: Path, what: str) -> tuple[Path, bool]:
    """The YAML file a scenario reference names: the preset ``ref`` of ``folder`` if there is
    one, else ``ref`` as a path. Also returns whether it was a preset.

    Raises:
        ConfigError: neither a preset nor an existing file; the message lists the presets.
    """
    if isinstance(ref, str) and (folder / f"{ref}.yaml").is_file():
        return folder / f"{ref}.yaml", True
    path = Path(ref)
    if not path.is_file():
        names = ", ".join(p.stem for p in sorted(folder.glob("*.yaml")))
        raise ConfigError(f"unknown {what} {str(ref)!r}: not a preset ({names}) and not a file.")
    return path, False
