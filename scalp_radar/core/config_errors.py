"""ConfigError and the helpers that turn YAML and pydantic failures into one located line."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A bad configuration; str() is one line: `<file>:<line>: <key.path>: <what was expected>`."""

    def __init__(
        self,
        expected: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        key: Loc | str | None = None,
    ) -> None:
        self.expected = " ".join(str(expected).split())  # always a single line
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = format_loc(key) if isinstance(key, tuple) else key
        self.loc: Loc | None = key if isinstance(key, tuple) else None
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.key:
            parts.append(self.key)
        parts.append(self.expected)
        return ": ".join(parts)


class CrossCheckError(ConfigError):
    """Raised by AppConfig cross-validation; `file` is the bare file name, `loc` the key path."""


def format_loc(loc: Sequence[str | int]) -> str:
    """("assets", 0, "timeframes", 2) -> "assets[0].timeframes[2]"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (`*name`, `<<: *name`).

    Config files never need them, and a few nested aliases expand into billions of nodes
    (an "alias bomb") that any walk over the tree, pydantic's included, would never finish.
    """

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event: yaml.AliasEvent = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                f"alias *{event.anchor} is not allowed in config files (write the value out)",
                cast(yaml.error.Mark, event.start_mark),
            )
        return super().compose_node(parent, index)


def compose_yaml(text: str, file: Path) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text into (data, node tree); broken YAML, aliases or duplicate keys raise
    ConfigError."""
    loader = _NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    if node is not None:
        _reject_duplicate_keys(node, (), file)
    return data, node


def _reject_duplicate_keys(node: yaml.Node, loc: Loc, file: Path) -> None:
    """PyYAML keeps the last of two equal keys silently; a duplicated section is a typo."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise ConfigError(
                    "duplicate key (each key may appear once)",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    key=(*loc, key),
                )
            if key is not None:
                seen.add(key)
            _reject_duplicate_keys(value_node, (*loc, key or "?"), file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _reject_duplicate_keys(item, (*loc, index), file)


def line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node reached by following loc (a key's own line if last)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            match = next(
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part)
                ),
                None,
            )
            if match is None:
                return line
            key_node, node = match
            line = (key_node if last else node).start_mark.line + 1
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated / Optional so the model or container type is visible."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model class that holds the key at loc (for listing valid keys)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) in (list, tuple) and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def unknown_key_hint(model: type[BaseModel], loc: Loc, key: str, *, upper: bool = False) -> str:
    """'unknown key (did you mean X?; expected one of a, b)' for an extra_forbidden error."""
    holder = _model_at(model, loc)
    if holder is None:
        return "unknown key"
    names = list(holder.model_fields)
    if upper:
        names = [n.upper() for n in names]
        key = key.upper()
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown key ({hint}expected one of {', '.join(names)})"


def describe_error(error: ErrorDetails, model: type[BaseModel], *, show_input: bool = True) -> str:
    """One pydantic error as 'what was expected', without secret inputs when show_input=False."""
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return unknown_key_hint(model, loc[:-1], str(loc[-1]))
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    msg = msg.replace("Input should be", "expected", 1).replace(
        "Keys should be strings", "expected text keys", 1
    )
    if show_input and "input" in error and not isinstance(error["input"], dict | list):
        text = repr(error["input"])
        msg += f" (got {text[:60]})"
    return msg


def error_from_validation(
    exc: ValidationError, model: type[BaseModel], file: Path, node: yaml.Node | None
) -> ConfigError:
    """First error of a ValidationError as a located ConfigError (counts the others)."""
    # A typo'd key yields "missing" for the right name and "extra" for the typo; the
    # extra one (with its did-you-mean) is the useful one to show.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(first["loc"])
    expected = describe_error(first, model)
    if len(errors) > 1:
        expected += f" (+{len(errors) - 1} more)"
    return ConfigError(expected, file=file, line=line_of(node, loc), key=loc)
