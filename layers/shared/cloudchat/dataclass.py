"""``@dataclass`` as the standard library makes it, built for less cold-start time.

The standard ``dataclasses.dataclass`` writes each class's ``__init__``, ``__repr__``,
``__eq__`` and ``__hash__`` as Python source and compiles it at import time (one ``exec`` per
method: bytecode caches cannot hold it). Our ~40 records made that the larger part of a
resolver's cold import (bench/cold_start.py; docs/performance.md, "Cold start"). Here the
standard library still builds the class (fields, defaults, ``__init__``, frozenness,
``__match_args__``, ``dataclasses.fields``/``replace``/``asdict``), but ``__repr__``,
``__eq__`` and ``__hash__`` are shared functions over an ``operator.attrgetter`` of the
fields, made without compiling anything, that answer exactly what the generated ones answer
(the field tuples compared, hashed and printed the same way; tests/unit/test_dataclass.py
compares them on every record of the package).

Only the forms the package uses are taken over: ``@dataclass`` and ``@dataclass(frozen=True)``
on a class that defines none of the three methods itself. Anything else (``order``,
``slots``, ``unsafe_hash``, a class's own ``__eq__``...) is handed to the standard library
unchanged, so this is a drop-in: ``from cloudchat.dataclass import dataclass, field``.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable
from dataclasses import dataclass as _stdlib_dataclass
from dataclasses import field, fields
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["dataclass", "field"]

_T = TypeVar("_T")
_OWN = ("__repr__", "__eq__", "__hash__")


@overload
def dataclass(cls: type[_T], /) -> type[_T]: ...


@overload
def dataclass(*, frozen: bool = False, **options: Any) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(field_specifiers=(field,))
def dataclass(cls: type[_T] | None = None, /, *, frozen: bool = False,
              **options: Any) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """``dataclasses.dataclass`` (see the module's docstring)."""

    def wrap(cls: type[_T]) -> type[_T]:
        if options or any(name in cls.__dict__ for name in _OWN):
            return _stdlib_dataclass(cls, frozen=frozen, **options)
        cls = _stdlib_dataclass(cls, frozen=frozen, repr=False, eq=False)
        every = fields(cls)  # type: ignore[arg-type]  # (a dataclass by now)
        _methods(cls, [f.name for f in every if f.repr], [f.name for f in every if f.compare],
                 [f.name for f in every if (f.compare if f.hash is None else f.hash)], frozen)
        return cls

    return wrap if cls is None else wrap(cls)


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The fields' values as a tuple (what the generated methods build: ``(self.a, self.b,)``)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _methods(cls: type, shown: list[str], compared: list[str], hashed: list[str],
             frozen: bool) -> None:
    values = _getter(compared)
    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:
        key = id(self), _thread.get_ident()
        if key in running:  # a record that holds itself: "...", like dataclasses' repr
            return "..."
        running.add(key)
        try:
            return self.__class__.__qualname__ + "(" + ", ".join(
                f"{name}={getattr(self, name)!r}" for name in shown) + ")"
        finally:
            running.discard(key)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    for fn in (__repr__, __eq__):
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
        setattr(cls, fn.__name__, fn)
    if not frozen:
        cls.__hash__ = None  # type: ignore[assignment]  # (eq without frozen: unhashable)
        return
    hashed_values = _getter(hashed)

    def __hash__(self: Any) -> int:
        return hash(hashed_values(self))

    __hash__.__qualname__ = f"{cls.__qualname__}.__hash__"
    cls.__hash__ = __hash__  # type: ignore[assignment,method-assign]
