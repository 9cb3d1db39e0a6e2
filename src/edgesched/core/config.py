"""Typed configuration: pydantic v2 models, loaded from YAML at the edge, with errors that name
the file, the line, the field and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from edgesched.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

#: Field types every world's config models share. A scenario ``Name`` is a slug (it names
#: the results folder under runs/): letters, digits, ``-``, ``_`` and ``.``, no leading dot,
#: 1 to 64 characters.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]


def _numeric_only(annotation: Any) -> bool:
    """Whether a field's type holds numbers and never text (so a string is a mistake)."""
    found: set[type] = set()

    def walk(tp: Any) -> None:
        if tp in (int, float, str, bytes, bool):
            found.add(tp)
        elif isinstance(tp, type) and issubclass(tp, str):
            found.add(str)
        for arg in get_args(tp):
            walk(arg)

    walk(annotation)
    return bool(found & {int, float}) and not found & {str, bytes}


def _has_text(value: Any) -> bool:
    """Whether ``value`` is (or holds) text that reads as a number."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False  # pydantic's own error says what it expected
        return True
    if isinstance(value, list | tuple):
        return any(_has_text(v) for v in value)
    return False


class StrictModel(BaseModel):
    """Base of every config model: unknown fields are errors, values are immutable, and a
    number given as text (``'16'``) is refused rather than converted."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if field is not None and _has_text(value) and _numeric_only(field.annotation):
                    raise PydanticCustomError(
                        "number_as_text",
                        "expected a number, not text (write 16, not '16')",
                        {"field": name, "value": value},
                    )
        return data


#: Limits of a YAML file, checked before any data is built from it: its size, how deeply
#: its collections nest, how many aliases it uses and how many nodes it would expand to.
MAX_YAML_BYTES = 4 * 2**20
MAX_YAML_DEPTH = 50
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 200_000


class _Refused(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that counts aliases and nesting while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark
                raise _Refused(
                    mark.line + 1, f"more than {MAX_YAML_ALIASES} aliases (*name); refused"
                )
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark
            raise _Refused(mark.line + 1, f"nested deeper than {MAX_YAML_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_tree(root: yaml.Node) -> None:
    """Refuse duplicate mapping keys and a tree that expands to too many nodes (aliases
    repeat a subtree); the size is computed once per node, so a bomb costs nothing."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise _Refused(
                            key.start_mark.line + 1,
                            f"duplicate key {key.value!r} (first on line {seen[key.value]})",
                        )
                    seen[key.value] = key.start_mark.line + 1
                total += size(key) + size(value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        if total > MAX_YAML_NODES:
            raise _Refused(
                node.start_mark.line + 1,
                f"expands to more than {MAX_YAML_NODES} values (an alias bomb?)",
            )
        sizes[id(node)] = total
        return total

    size(root)


def read_yaml(path: str | Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file into plain data and its node tree (for line numbers).

    Raises:
        ConfigError: the file is missing, unreadable, larger than 4 MiB, not UTF-8, not valid
            YAML, nested deeper than 50 levels, uses more than 100 aliases or expands to more
            than 200,000 values, or repeats a key in a mapping.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(f"{path}: {size} bytes; a YAML file is at most 4 MiB.")
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}, line {line}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}); expected a YAML file."
        ) from None
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
        if node is not None:
            _check_tree(node)
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise ConfigError(f"{path}, line {exc.line}: {exc.problem}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML: {str(problem)[:300]}.") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read.") from None
    finally:
        if loader is not None:
            loader.dispose()
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
        found = err.get("input")
        if err["type"] == "number_as_text":
            loc = (*loc, err["ctx"]["field"])
            found = err["ctx"]["value"]
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(node, loc)
        where = f"{source}, line {line}" if line is not None else source
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
