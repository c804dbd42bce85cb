"""The configuration file as plain data (a YAML mapping, no key given twice), and pydantic's
complaints about it worded as ``ConfigError``: the file, the key's path, the problem and the fix
(for an unknown key, the keys allowed at that place, found by walking the schema itself)."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from slackgenie.environment import ConfigError

DEFAULT_CONFIG = "slackgenie.yaml"

_FIXES = {
    "extra_forbidden": "remove this key or correct its spelling",
    "missing": "add this key",
    "literal_error": "use one of the values named above",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number (not true/false, not quoted)",
    "bool_type": "write true or false",
    "greater_than_equal": "raise the value",
    "less_than_equal": "lower the value",
    "too_short": "add at least one entry",
    "list_type": "write a YAML list, e.g. [a, b]",
    "dict_type": "write a YAML mapping of key: value",
    "string_type": "write a string",
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error, not a silent
    overwrite (a second ``syncs:`` would drop the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                continue  # an unhashable key: the base loader reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def config_path(cli_value: str | None, env: Mapping[str, str]) -> Path:
    """--config, else $SLACKGENIE_CONFIG, else slackgenie.yaml in the working directory."""
    return Path(cli_value or env.get("SLACKGENIE_CONFIG") or DEFAULT_CONFIG)


def read_mapping(path: Path, text: str) -> dict[Any, Any]:
    """The file's top-level mapping, or ``ConfigError`` saying where the YAML is wrong."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, nesting thousands deep
        raise ConfigError(str(path), "(file)", f"cannot be read as configuration ({type(exc).__name__})",
                          "correct the YAML: numbers of sensible size, a shallow structure") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), where, f"invalid YAML: {problem}", "correct the YAML syntax") from None
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "(top level)", "expected a mapping with a 'syncs' list",
                          "see the configuration reference in README.md")
    return raw


def explain(path: Path, exc: ValidationError, schema: type[BaseModel]) -> ConfigError:
    """The first complaint, as the operator reads it."""
    err = exc.errors(include_url=False)[0]
    fix = _FIXES.get(err["type"], "see the configuration reference in README.md")
    if err["type"] == "extra_forbidden":
        allowed = allowed_keys(schema, err["loc"][:-1])
        if allowed:
            fix = f"{fix}; allowed keys here: {', '.join(allowed)}"
    message = err["msg"].removeprefix("Value error, ")
    return ConfigError(str(path), key_path(err["loc"]), message, fix)


def key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def allowed_keys(schema: type[BaseModel], where: tuple[Any, ...]) -> list[str]:
    """The keys the schema allows at ``where`` (a path of keys and list indexes; a mapping's own
    keys, such as a feed's name, are stepped over); [] where no model stands."""
    here: Any = schema
    for part in where:
        here = _step(here, part)
        if here is None:
            return []
    model = _model_in(here)
    return list(model.model_fields) if model is not None else []


def _step(here: Any, part: Any) -> Any:
    model = _model_in(here)
    if model is not None and isinstance(part, str):
        field = model.model_fields.get(part)
        return field.annotation if field is not None else None
    origin, args = typing.get_origin(here), typing.get_args(here)
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation stands for: itself, or the one model of an ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [m for m in map(_model_in, typing.get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None
