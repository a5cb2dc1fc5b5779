"""Strict mapping -> dataclass parsing for the ``eval:`` config section (clear errors)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")


class EvalConfigError(ValueError):
    """A bad ``eval:`` config value; the message names the key path."""


def parse(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and bad types raise with the key path."""
    if data is None:
        data = {}
    if dataclasses.is_dataclass(data) and isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise EvalConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise EvalConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _convert(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as err:
        raise EvalConfigError(f"{where}: {err}") from err
    check = getattr(obj, "validate", None)
    if check is not None:
        check(where)
    return obj


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except EvalConfigError as err:
                errors.append(str(err))
        raise EvalConfigError(errors[0] if len(errors) == 1 else f"{where}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, where)
    if origin is list:
        if isinstance(value, (str, int, float)):
            value = [value]
        if not isinstance(value, list):
            raise EvalConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise EvalConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EvalConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EvalConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise EvalConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def require(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise EvalConfigError(f"{where}: {message}")
