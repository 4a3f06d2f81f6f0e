"""Validation rules that mutation testing (`make mutate`) found unpinned: each bound at its
exact edge (the last value accepted, the first refused), the avatar ownership rule, the
error messages clients show, and dates handed back in UTC whatever the host's zone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from cloudchat import validation
from cloudchat.errors import BadRequest


def refused(message: str) -> pytest.RaisesExc[BadRequest]:
    return pytest.raises(BadRequest, match=f"^{message}$")


# ----------------------------------------------------------------------------------- user ids

def test_user_ids_bounds_and_message() -> None:
    assert validation.user_ids(["a"], "memberIds") == ["a"]
    assert validation.user_ids(["a", "b", "a"], "memberIds") == ["a", "b"]
    hundred = [f"u{i}" for i in range(100)]
    assert validation.user_ids(hundred, "memberIds") == hundred
    assert validation.user_ids(["a", "b", "c"], "memberIds", most=3) == ["a", "b", "c"]
    for bad in ([], [f"u{i}" for i in range(101)], "a", None):
        with refused("memberIds must name 1 to 100 users"):
            validation.user_ids(bad, "memberIds")
    with refused("userIds must name 1 to 3 users"):
        validation.user_ids(["a", "b", "c", "d"], "userIds", most=3)


def test_user_ids_checks_each_id() -> None:
    with refused("user ids must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'"):
        validation.user_ids(["ok", "not ok"], "memberIds")


# ----------------------------------------------------------------------------------- reason

def test_reason_of_exactly_500_characters_is_accepted() -> None:
    assert validation.reason("r" * 500) == "r" * 500
    with refused("reason must be 1 to 500 characters"):
        validation.reason("r" * 501)


def test_reason_names_itself_when_it_hides_characters() -> None:
    with refused("reason must not contain control characters"):
        validation.reason("spam\x1b[2J")


# ----------------------------------------------------------------------------------- dates

def test_date_time_length_edge() -> None:
    at_cap = "2030-01-01T00:00:00." + "1" * 38 + "+00:00"
    assert len(at_cap) == 64
    assert validation.date_time(at_cap, "until") == datetime(2030, 1, 1, 0, 0, 0, 111111, tzinfo=UTC)
    with refused("until must be an AWSDateTime like 2030-01-01T00:00:00Z"):
        validation.date_time(at_cap.replace("+00:00", "1+00:00"), "until")  # 65 characters
    with refused("until must be an AWSDateTime like 2030-01-01T00:00:00Z"):
        validation.date_time("tomorrow", "until")
    with refused("until must be an AWSDateTime like 2030-01-01T00:00:00Z"):
        validation.date_time(1893456000, "until")


def test_date_time_range_is_inclusive_at_both_ends() -> None:
    assert validation.date_time("1970-01-01T00:00:00Z", "at") == datetime(1970, 1, 1, tzinfo=UTC)
    assert validation.date_time("9999-12-31T23:59:59Z", "at") == \
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    with refused("at must be between 1970 and 9999"):
        validation.date_time("1969-12-31T23:59:59Z", "at")


@pytest.fixture
def host_zone_new_york() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("host_zone_new_york")
def test_date_time_is_returned_in_utc_whatever_the_host_zone() -> None:
    got = validation.date_time("2030-01-01T01:00:00+01:00", "until")
    assert got.tzinfo is UTC
    assert got.isoformat() == "2030-01-01T00:00:00+00:00"


# ----------------------------------------------------------------------------------- names

def test_display_name_length_edge_and_message() -> None:
    assert validation.display_name("n" * 64) == "n" * 64
    assert validation.display_name(f"  {'n' * 64}  ") == "n" * 64
    for bad in ("n" * 65, "", "   ", None):
        with refused("displayName must be 1 to 64 characters"):
            validation.display_name(bad)


def test_file_name_length_edge_slashes_and_message() -> None:
    assert validation.file_name("f" * 255) == "f" * 255
    for bad in ("f" * 256, "", "  ", 7):
        with refused("fileName must be 1 to 255 characters"):
            validation.file_name(bad)
    for bad in ("a/b.png", "a\\b.png", "../x"):
        with refused("fileName must not contain slashes"):
            validation.file_name(bad)


# ----------------------------------------------------------------------------------- avatar keys

def test_avatar_key_must_be_under_the_callers_own_prefix() -> None:
    assert validation.avatar_key("avatars/u1/me.png", "u1") == "avatars/u1/me.png"
    with refused("avatarKey must be under your own avatars/ prefix"):
        validation.avatar_key("avatars/u2/me.png", "u1")
    with refused("avatarKey must be under your own avatars/ prefix"):
        validation.avatar_key("avatars/u1x/me.png", "u1")


@pytest.mark.parametrize("bad", ["avatars/u1/a..png", "avatars/u1/..", "uploads/u1/me.png",
                                 "avatars/u1/sub/me.png", "avatars//me.png", 5])
def test_avatar_key_shape_and_message(bad: object) -> None:
    with refused("avatarKey must be an object key under avatars/<your user id>/"):
        validation.avatar_key(bad, "u1")


# ----------------------------------------------------------------------------------- MIME, headers

def test_content_type_message() -> None:
    assert validation.content_type("image/png") == "image/png"
    with refused("contentType must be a MIME type like image/png"):
        validation.content_type("image/png\r\nX-Evil: 1")


def test_content_disposition_keeps_tilde_and_encodes_every_reserved_byte() -> None:
    header = validation.content_disposition("attachment", "a~b/c?d.txt")
    assert header == "attachment; filename=\"a~b/c?d.txt\"; filename*=UTF-8''a~b%2Fc%3Fd.txt"


# ----------------------------------------------------------------------------------- hidden text, seq, emoji

def test_an_unpaired_surrogate_in_a_name_is_refused() -> None:
    for name in ("a" + chr(0xD800) + "b", "a" + chr(0xDFFF) + "b"):
        with pytest.raises(BadRequest, match=r"^displayName must not contain invisible or text-direction"):
            validation.display_name(name)


def test_seq_accepts_the_largest_seq_a_message_id_carries() -> None:
    assert validation.seq(validation.MAX_SEQ, "afterSeq") == (1 << 40) - 1
    assert validation.seq(0, "afterSeq") == 0
    for bad in (validation.MAX_SEQ + 1, -1, True, "1"):
        with refused(f"afterSeq must be an integer from 0 to {validation.MAX_SEQ}"):
            validation.seq(bad, "afterSeq")


def test_emoji_message() -> None:
    with refused(r"emoji must be a single Unicode \(RGI\) emoji or a :short_name: "
                 r"\(a-z, 0-9, _ \+ -, at most 32\)"):
        validation.emoji("not an emoji")
