"""Validation of text a human reads, dates, integers and report reasons (issue 12, defects
11, 12 and 13): each refusal is BadRequest, and no input makes a validator raise anything else."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudchat import validation
from cloudchat.errors import BadRequest

BIDI = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\U000e0041", "\U000e007f",
             "\u00ad", "\u2028", "\u2029", "\u3164", "\u115f", "\u2800", "\x00", "\x1b", "\x7f"]
NAMED = {"displayName": validation.display_name, "title": validation.title,
         "fileName": validation.file_name}


@pytest.mark.parametrize("field", sorted(NAMED))
@pytest.mark.parametrize("char", BIDI + INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_names_refuse_bidi_controls_and_invisible_characters(field: str, char: str) -> None:
    if field == "displayName" and char.isspace():  # line separators: collapsed to a space
        assert validation.display_name(f"a{char}b") == "a b"
        return
    with pytest.raises(BadRequest, match=f"{field} must not contain"):
        NAMED[field](f"invoice{char}fdp.exe")


@pytest.mark.parametrize("field", sorted(NAMED))
@pytest.mark.parametrize("name", ["Zoë Ünal", "עברית", "مرحبا", "日本語", "👨\u200d👩\u200d👧 family",
                                  "🏳️\u200d🌈", "naïve café.pdf"])
def test_names_keep_real_scripts_and_emoji_zwj_sequences(field: str, name: str) -> None:
    assert NAMED[field](name) == name


def test_a_zero_width_joiner_only_between_emoji() -> None:
    for name in ["a\u200db", "\u200d👍", "👍\u200d"]:
        with pytest.raises(BadRequest):
            validation.display_name(name)


def test_content_disposition_encodes_the_name_per_rfc_6266() -> None:
    header = validation.content_disposition("attachment", 'résumé "final"\r\nX: y.pdf')
    kind, fallback, star = header.split("; ")
    assert kind == "attachment"
    assert fallback == 'filename="resume _final___X: y.pdf"'
    assert star.startswith("filename*=UTF-8''")
    assert unquote(star[len("filename*=UTF-8''"):]) == 'résumé "final"\r\nX: y.pdf'
    assert all(" " <= c <= "~" for c in header)  # nothing can end or split the header
    assert validation.content_disposition("inline", "日本語") == \
        "inline; filename=\"file\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                   "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_a_valid_date_out_of_range_is_a_bad_request(value: str) -> None:
    with pytest.raises(BadRequest, match="between 1970 and 9999"):
        validation.date_time(value, "until")


def test_dates_are_moved_to_utc() -> None:
    assert validation.date_time("2030-01-01T01:00:00+01:00", "until") == \
        datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(BadRequest, match="time zone"):
        validation.date_time("2030-01-01T00:00:00", "until")


@pytest.mark.parametrize("value", [-1, 2**40, 2**63, 10**40, True, 1.0, "1", None])
def test_seqs_are_bounded(value: Any) -> None:
    with pytest.raises(BadRequest):
        validation.seq(value, "afterSeq")
    with pytest.raises(BadRequest):
        validation.positive_seq(value, "seq")


@pytest.mark.parametrize("reason", ["spam\x00", "\x1b[2J\x1b[Hcleared", "a\u202eb", "\x07bell",
                                    "x\u200by", "", "  ", "x" * 501])
def test_report_reasons_refuse_control_characters(reason: str) -> None:
    with pytest.raises(BadRequest, match="reason"):
        validation.reason(reason)


def test_report_reasons_keep_lines() -> None:
    assert validation.reason("  spam\nand abuse\t!  ") == "spam\nand abuse\t!"


anything = (st.none() | st.booleans() | st.integers() | st.floats()
            | st.text(st.characters(codec="utf-8"), max_size=50)
            | st.text(st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"]),
                      max_size=5)
            | st.lists(st.text(max_size=3), max_size=3)
            | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))
VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "limit": validation.limit, "body": lambda v: validation.body(v, 1000),
    "client_message_id": validation.client_message_id, "user_id": validation.user_id,
    "user_ids": lambda v: validation.user_ids(v, "ids"), "title": validation.title,
    "reason": validation.reason, "date_time": lambda v: validation.date_time(v, "at"),
    "seq": lambda v: validation.seq(v, "seq"), "emoji": validation.emoji,
    "positive_seq": lambda v: validation.positive_seq(v, "seq"),
    "display_name": validation.display_name, "content_type": validation.content_type,
    "avatar_key": lambda v: validation.avatar_key(v, "u1"), "file_name": validation.file_name,
}


@pytest.mark.slow
@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(VALIDATORS)), value=anything)
def test_validators_answer_or_refuse_with_bad_request_only(name: str, value: Any) -> None:
    with contextlib.suppress(BadRequest):
        VALIDATORS[name](value)
