"""cloudchat.dataclass answers exactly what the standard library's generated methods answer.

Every record of the package made by ``cloudchat.dataclass`` is compared with a twin made by
``dataclasses.dataclass`` from the same fields: repr, equality (instances differing in each
field in turn, and a value that is not equal to itself), hashing and frozenness.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

import pytest

import cloudchat
from cloudchat.dataclass import dataclass, field


def _records() -> list[type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(cloudchat.__path__, "cloudchat."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (isinstance(value, type) and dataclasses.is_dataclass(value)
                    and value.__module__ == info.name
                    and getattr(value.__eq__, "__module__", None) == "cloudchat.dataclass"):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


RECORDS = _records()


@dataclass(frozen=True)
class _One:
    value: Any


@dataclass(frozen=True)
class _NoFields:
    pass


@dataclass(frozen=True)
class _OneOfTwoCompared:
    value: Any
    other: Any = field(default=None, compare=False, hash=True)


def test_the_package_records_are_made_here() -> None:
    names = {c.__name__ for c in RECORDS}
    assert {"Settings", "Sealed", "Member", "Message", "Caller", "MessageImage", "AccountState",
            "Word", "Rate"} <= names
    assert len(RECORDS) >= 40


def _twin(cls: type) -> type:
    """The same fields through the standard library's decorator."""
    own = dataclasses.fields(cls)  # type: ignore[arg-type]
    twin = dataclasses.make_dataclass(
        cls.__name__,
        [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory,
                                            repr=f.repr, compare=f.compare, hash=f.hash,
                                            init=f.init)) for f in own],
        frozen=cls.__setattr__ is not object.__setattr__)
    twin.__qualname__ = cls.__qualname__
    return twin


class _Odd:
    """Equal to nothing, itself included (like NaN); hashable."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 7


def _values(cls: type, change: str | None = None, value: Any = None) -> dict[str, Any]:
    out = {f.name: (f"{f.name}-value", 1) for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    if change is not None:
        out[change] = value
    return out


@pytest.mark.parametrize("cls", [*RECORDS, _One, _NoFields, _OneOfTwoCompared], ids=lambda c: c.__qualname__)
def test_a_record_behaves_like_its_standard_library_twin(cls: type) -> None:
    twin = _twin(cls)
    assert cls.__setattr__ is not object.__setattr__ or cls.__hash__ is None
    base, twin_base = cls(**_values(cls)), twin(**_values(cls))
    assert repr(base) == repr(twin_base)
    assert (base == cls(**_values(cls))) is (twin_base == twin(**_values(cls))) is True
    assert base.__eq__(object()) is NotImplemented and base != (1, 2)
    assert (cls.__hash__ is None) == (twin.__hash__ is None)
    if cls.__hash__ is not None:
        assert hash(base) == hash(twin_base)
    unhashable = next(iter(_values(cls)), None)
    if cls.__hash__ is not None and unhashable is not None:
        with pytest.raises(TypeError):
            hash(cls(**_values(cls, unhashable, [1])))
        with pytest.raises(TypeError):
            hash(twin(**_values(cls, unhashable, [1])))
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(base, unhashable, 2)
    odd = _Odd()
    for name in _values(cls):
        changed, twin_changed = cls(**_values(cls, name, "x")), twin(**_values(cls, name, "x"))
        assert repr(changed) == repr(twin_changed)
        assert (base == changed) is (twin_base == twin_changed), name
        same = cls(**_values(cls, name, odd))  # one object: equal by identity in a tuple
        twin_same = twin(**_values(cls, name, odd))
        assert (same == same) is (twin_same == twin_same), name
        assert (same == cls(**_values(cls, name, _Odd()))) is (
            twin_same == twin(**_values(cls, name, _Odd()))), name
        if cls.__hash__ is not None:
            assert hash(changed) == hash(twin_changed), name


@dataclass
class _Node:
    name: str
    children: list[Any] = field(default_factory=list)
    note: str = field(default="", repr=False, compare=False)


@dataclasses.dataclass
class _StdlibNode:
    name: str
    children: list[Any] = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", repr=False, compare=False)


def test_a_record_that_holds_itself_prints_dots() -> None:
    node, twin = _Node("a"), _StdlibNode("a")
    node.children.append(node)
    twin.children.append(twin)
    assert repr(node) == repr(twin).replace("_StdlibNode", "_Node") == "_Node(name='a', children=[...])"
    assert _Node("a", [], "x") == _Node("a", [], "y")
    assert _Node("a") != _Node("b") and _Node.__hash__ is None


def test_other_options_and_own_methods_go_to_the_standard_library() -> None:
    @dataclass(order=True)
    class Ordered:
        n: int

    @dataclass(frozen=True)
    class OwnEq:
        n: int

        def __eq__(self, other: object) -> bool:
            return True

    assert Ordered(1) < Ordered(2) and Ordered.__eq__.__module__ != "cloudchat.dataclass"
    assert OwnEq(1) == OwnEq(2) and "OwnEq" in repr(OwnEq(1))
    assert OwnEq.__repr__.__module__ != "cloudchat.dataclass"
