"""cpt's one Python config system: typed dataclasses with help and ranges, YAML + overrides.

Every component (trainer, evaluation, monitor, selector) describes its section as a dataclass whose
fields are made with ``option``: a default, a ``help`` text, and optionally ``min``/``max`` (with
``min_exclusive``/``max_exclusive``) or ``choices``. ``build`` turns a mapping into the dataclass,
checking every key: an unknown key is named with the closest known ones, a bad value with its
key, the value and what is allowed. ``help_lines`` writes the ``--help`` listing from the same
fields, so the documentation cannot drift from what is accepted.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Dict, List

import yaml

from cpt import ConfigError


def option(default: Any, help: str, **meta: Any) -> Any:
    """A dataclass field with a default, its help text and optional min/max/choices."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata={"help": help, **meta}
        )
    if dataclasses.is_dataclass(default) and isinstance(default, type):
        return dataclasses.field(default_factory=default, metadata={"help": help, **meta})
    return dataclasses.field(default=default, metadata={"help": help, **meta})


# ``X | None`` is types.UnionType from Python 3.10 on; Optional[X] is typing.Union everywhere.
_UNIONS = (typing.Union, getattr(types, "UnionType", typing.Union))


def _optional_inner(tp: Any) -> Any | None:
    """``X`` for ``X | None`` / ``Optional[X]``, else None."""
    if typing.get_origin(tp) in _UNIONS:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return None


def _union_members(tp: Any) -> list[Any]:
    """The non-None members of a union of two or more types (``float | Schedule``), else []."""
    if typing.get_origin(tp) not in _UNIONS:
        return []
    members = [a for a in typing.get_args(tp) if a is not type(None)]
    return members if len(members) > 1 else []


def convert(value: Any, tp: Any, key: str) -> Any:
    """Check/convert one value against a field type; raise ConfigError naming the key."""
    members = _union_members(tp)
    if members:
        # A number or a mapping (e.g. ``data.alpha: 0.7`` or ``data.alpha: {kind: linear, ...}``):
        # a mapping goes to the dataclass member, anything else to the first scalar that takes it.
        if value is None and type(None) in typing.get_args(tp):
            return None
        sections = [m for m in members if dataclasses.is_dataclass(m)]
        if isinstance(value, dict) and sections:
            return build(sections[0], value, key)
        error: ConfigError | None = None
        for member in members:
            if dataclasses.is_dataclass(member):
                continue
            try:
                return convert(value, member, key)
            except ConfigError as exc:
                error = error or exc
        if error is not None:
            raise error
        raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
    inner = _optional_inner(tp)
    if inner is not None:
        if value is None or (value == {} and dataclasses.is_dataclass(inner)):
            return None  # an empty optional section is an absent one
        return convert(value, inner, key)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return build(tp, value, key)
    if origin in (list, List):
        if isinstance(value, str) and args[0] is str:
            value = [value]  # a single name where a list of names is expected
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        return [convert(v, args[0], f"{key}.{i}") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return {str(k): v for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        # Whole-number floats are fine (YAML reads 1e9 as a string or a float).
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            as_float = None
        if as_float is None or not math.isfinite(as_float) or not as_float.is_integer():
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        return int(as_float)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}") from None
        if not math.isfinite(number):
            # NaN passes every range comparison, and an inf LR trains to NaN: refuse both here.
            raise ConfigError(f"config key '{key}': {value!r} is not a finite number")
        return number
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return str(value)
    if tp is Any:
        return value
    raise ConfigError(f"config key '{key}': unsupported type {getattr(tp, '__name__', tp)}")


def check_range(value: Any, meta: dict[str, Any], key: str) -> None:
    """Apply a field's ``choices`` / ``min`` / ``max`` metadata to a converted value."""
    if value is None or dataclasses.is_dataclass(value):
        return  # a section (one member of a union) checks its own keys
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"config key '{key}': {value!r} is not one of {', '.join(choices)}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is None and hi is None:
        return
    lo_x, hi_x = bool(meta.get("min_exclusive")), bool(meta.get("max_exclusive"))
    too_low = lo is not None and (value < lo or (lo_x and value == lo))
    too_high = hi is not None and (value > hi or (hi_x and value == hi))
    if too_low or too_high:
        raise ConfigError(
            f"config key '{key}': {value!r} is out of range (must be {describe_range(meta)})"
        )


def describe_range(meta: dict[str, Any]) -> str:
    parts = []
    if meta.get("min") is not None:
        parts.append(f"{'>' if meta.get('min_exclusive') else '>='} {meta['min']}")
    if meta.get("max") is not None:
        parts.append(f"{'<' if meta.get('max_exclusive') else '<='} {meta['max']}")
    return " and ".join(parts)


def build(cls: Any, data: dict[str, Any], prefix: str) -> Any:
    """The dataclass ``cls`` from ``data``; every key and value checked, errors name the key."""
    hints = typing.get_type_hints(cls)
    fields = {config_key(f): f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key)
        full = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(fields)
            raise ConfigError(f"unknown config key '{full}'{hint} (known keys here: {known})")
        meta = dict(fields[key].metadata)
        if isinstance(value, bool) and "choices" in meta:
            # YAML 1.1 reads bare no/off/yes/on as booleans; map back to the spelled choice.
            words = ("off", "no") if value is False else ("on", "yes")
            value = next((w for w in words if w in meta["choices"]), value)
        converted = convert(value, hints[fields[key].name], full)
        check_range(converted, meta, full)
        kwargs[fields[key].name] = converted
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        check(prefix)  # rules between the keys of one section
    return obj


def config_key(f: dataclasses.Field[Any]) -> str:
    """The YAML key of a field: its name, or its ``key`` metadata where the name cannot be
    spelled in Python (``lambda``)."""
    return str(f.metadata.get("key", f.name))


def as_dict(obj: Any) -> Any:
    """A config dataclass as plain data under its YAML keys (loadable again by ``build``)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {config_key(f): as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [as_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    return obj


def set_override(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c=value`` in a nested dict; numeric parts index into lists."""
    parts = dotted.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"override '{dotted}': '{part}' is not an index of the list "
                    f"'{'.'.join(parts[:i])}' (length {len(node)})"
                )
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{'.'.join(parts[:i])}' is not a mapping")
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    """``key.sub=value`` strings; the value is parsed as YAML."""
    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key.sub=value")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {exc}") from None
        out.append((key.strip(), value))
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is an empty mapping)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: invalid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text ({exc})") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping")
    return loaded or {}


def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        both = isinstance(out.get(k), dict) and isinstance(v, dict)
        out[k] = deep_merge(out[k], v) if both else v
    return out


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def help_lines(cls: Any, prefix: str = "") -> list[str]:
    """Every key of ``cls`` (recursively) with its default, allowed values and meaning."""
    lines: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        meta = dict(f.metadata)
        sub = tp if dataclasses.is_dataclass(tp) else _optional_inner(tp)
        if sub is not None and dataclasses.is_dataclass(sub):
            head = f"{prefix}{config_key(f)}:"
            if sub is not tp:  # an optional section: absent by default
                head += f" (default {_default(f)!r}) {meta.get('help', '')}"
            elif meta.get("help"):
                head += f"  {meta['help']}"
            lines.append(head)
            lines += help_lines(sub, f"{prefix}{f.name}.")
            lines.append("")
            continue
        allowed = ""
        if "choices" in meta:
            allowed = f" [{'|'.join(meta['choices'])}]"
        elif "min" in meta or "max" in meta:
            allowed = f" [{describe_range(meta)}]"
        lines.append(f"  {prefix}{config_key(f)} = {_default(f)!r}{allowed}")
        lines.append(f"      {meta.get('help', '')}")
    return lines
