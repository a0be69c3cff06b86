"""Evidence dataclasses to and from plain JSON values, so a bundle can be re-rendered exactly."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from reports.errors import ReportError

T = TypeVar("T")


@cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_json(value: Any) -> Any:
    """A dataclass tree as JSON values: dataclasses → objects, tuples → arrays."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_json(getattr(value, name)) for name in _names(type(value))}
    raise ReportError(f"{type(value).__name__} cannot go into an evidence bundle")


class _Mismatch(ReportError):
    """A value does not fit its type; ``path`` grows as the error unwinds to the root."""

    def __init__(self, problem: str, path: str = "") -> None:
        super().__init__(problem)
        self.problem, self.path = problem, path

    def at(self, step: str) -> _Mismatch:
        return _Mismatch(self.problem, step + self.path)


Loader = Callable[[Any], Any]


def from_json(cls: type[T], data: Any, where: str = "$") -> T:
    """Rebuild a dataclass tree from to_json() output, checking every type on the way."""
    try:
        return typing.cast(T, _loader(typing.cast(Any, cls))(data))
    except _Mismatch as exc:
        raise ReportError(f"{where}{exc.path}: {exc.problem}") from None


@cache
def _loader(hint: Any) -> Loader:
    """A function that checks and rebuilds one JSON value of type ``hint`` (made once per type)."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return _union(hint)
    if origin is Literal:
        return _literal(hint)
    if origin is tuple:
        return _tuple(hint)
    if dataclasses.is_dataclass(hint):
        return _dataclass(typing.cast(type, hint))
    if hint in (str, int, bool):
        return _scalar(hint)
    if hint is Any:
        return lambda data: data
    raise ReportError(f"cannot load {hint!r} from a bundle")


def _scalar(hint: type) -> Loader:
    def load(data: Any) -> Any:
        if type(data) is not hint:
            raise _Mismatch(f"expected {hint.__name__}, got {type(data).__name__}")
        return data
    return load


def _literal(hint: Any) -> Loader:
    allowed = get_args(hint)

    def load(data: Any) -> Any:
        if data not in allowed:
            raise _Mismatch(f"{data!r} is not one of {allowed}")
        return data
    return load


def _union(hint: Any) -> Loader:
    options = get_args(hint)
    nullable = type(None) in options
    loaders = [_loader(o) for o in options if o is not type(None)]

    def load(data: Any) -> Any:
        if data is None and nullable:
            return None
        for option in loaders:
            try:
                return option(data)
            except _Mismatch:
                continue
        raise _Mismatch(f"{data!r} fits none of {options}")
    return load


def _items(load: Loader, data: Any, index: int) -> Any:
    try:
        return load(data)
    except _Mismatch as exc:
        raise exc.at(f"[{index}]") from None


def _tuple(hint: Any) -> Loader:
    args = get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        item = _loader(args[0])

        def load_all(data: Any) -> Any:
            if not isinstance(data, list):
                raise _Mismatch("expected an array")
            try:
                return tuple(item(x) for x in data)
            except _Mismatch:  # find the failing index for the message
                for i, x in enumerate(data):
                    _items(item, x, i)
                raise
        return load_all
    fixed = [_loader(a) for a in args]

    def load_fixed(data: Any) -> Any:
        if not isinstance(data, list):
            raise _Mismatch("expected an array")
        if len(fixed) != len(data):
            raise _Mismatch(f"expected {len(fixed)} items")
        return tuple(_items(f, x, i) for i, (f, x) in enumerate(zip(fixed, data, strict=True)))
    return load_fixed


def _dataclass(cls: type) -> Loader:
    hints = typing.get_type_hints(cls)
    fields = [(f.name, f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING) for f in dataclasses.fields(cls)]
    names = {name for name, _ in fields}

    def load(data: Any) -> Any:
        if not isinstance(data, dict):
            raise _Mismatch(f"expected an object for {cls.__name__}")
        unknown = set(data) - names
        if unknown:
            raise _Mismatch(f"unknown fields {sorted(unknown)}")
        values = {}
        for name, required in fields:
            if name not in data:
                if required:
                    raise _Mismatch(f"missing {name}")
                continue
            try:
                values[name] = _loader(hints[name])(data[name])
            except _Mismatch as exc:
                raise exc.at(f".{name}") from None
        return cls(**values)
    return load
