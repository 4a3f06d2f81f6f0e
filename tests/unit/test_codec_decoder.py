"""store._codec.from_av decodes exactly what boto3's TypeDeserializer decodes (it is a faster
copy of it), errors included."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudchat.store._codec import from_av

scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20), st.integers(-10**30, 10**30),
    st.binary(max_size=16), st.decimals(allow_nan=False, allow_infinity=False, places=5,
                                        min_value=-10**20, max_value=10**20),
)
values = st.recursive(
    st.one_of(scalars, st.sets(st.text(max_size=8), min_size=1, max_size=4),
              st.sets(st.integers(-999, 999), min_size=1, max_size=4),
              st.sets(st.binary(min_size=1, max_size=4), min_size=1, max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> None:
    assert type(a) is type(b) and a == b
    if isinstance(a, list):
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=6))
def test_from_av_decodes_what_boto3_decodes(item: dict[str, Any]) -> None:
    av = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    boto3_decoded = {k: TypeDeserializer().deserialize(v) for k, v in av.items()}
    _same(from_av(av), boto3_decoded)


@pytest.mark.parametrize("bad", [{}, {"X": 1}, {"L": [{}]}])
def test_bad_attribute_values_raise_boto3s_error(bad: dict[str, Any]) -> None:
    with pytest.raises(TypeError) as ours:
        from_av({"a": bad})
    with pytest.raises(TypeError) as theirs:
        TypeDeserializer().deserialize(bad)
    assert str(ours.value) == str(theirs.value)


def test_lower_case_types_are_read_as_boto3_reads_them() -> None:
    assert from_av({"a": {"n": "1"}}) == {"a": TypeDeserializer().deserialize({"n": "1"})}


@settings(max_examples=500, deadline=None)
@given(st.integers(0, (1 << 128) - 1))
def test_seq_of_message_id_is_bytes_6_to_10_of_the_ulid(value: int) -> None:
    from ulid import ULID

    from cloudchat.errors import BadRequest
    from cloudchat.ids import seq_of_message_id

    text = str(ULID.from_int(value))
    expected = int.from_bytes(ULID.from_str(text).bytes[6:11], "big")
    if expected < 1:
        with pytest.raises(BadRequest):
            seq_of_message_id(text)
    else:
        assert seq_of_message_id(text) == expected
