"""Evidence dataclasses to and from plain JSON values, so a bundle can be re-rendered exactly."""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from reports.errors import ReportError

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """A dataclass tree as JSON values: dataclasses → objects, tuples → arrays."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    raise ReportError(f"{type(value).__name__} cannot go into an evidence bundle")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json(cls: type[T], data: Any, where: str = "$") -> T:
    """Rebuild a dataclass tree from to_json() output, checking every type on the way."""
    return typing.cast(T, _load(cls, data, where))


def _load(hint: Any, data: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return _union(hint, data, where)
    if origin is Literal:
        if data not in get_args(hint):
            raise ReportError(f"{where}: {data!r} is not one of {get_args(hint)}")
        return data
    if origin is tuple:
        return _tuple(hint, data, where)
    if dataclasses.is_dataclass(hint):
        return _dataclass(typing.cast(type, hint), data, where)
    if hint in (str, int, bool) and type(data) is hint:
        return data
    if hint is Any:
        return data
    raise ReportError(f"{where}: expected {getattr(hint, '__name__', hint)}, got "
                      f"{type(data).__name__}")


def _union(hint: Any, data: Any, where: str) -> Any:
    options = get_args(hint)
    if data is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return _load(option, data, where)
        except ReportError:
            continue
    raise ReportError(f"{where}: {data!r} fits none of {options}")


def _tuple(hint: Any, data: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(data, list):
        raise ReportError(f"{where}: expected an array")
    args = get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_load(args[0], item, f"{where}[{i}]") for i, item in enumerate(data))
    if len(args) != len(data):
        raise ReportError(f"{where}: expected {len(args)} items")
    return tuple(_load(a, item, f"{where}[{i}]") for i, (a, item) in enumerate(zip(args, data,
                                                                                   strict=True)))


def _dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ReportError(f"{where}: expected an object for {cls.__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ReportError(f"{where}: unknown fields {sorted(unknown)}")
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ReportError(f"{where}: missing {f.name}")
            continue
        values[f.name] = _load(hints[f.name], data[f.name], f"{where}.{f.name}")
    return cls(**values)
