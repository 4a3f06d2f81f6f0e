"""Smoke tier of ``make soak`` (``python -m bench.soak``): the same harness with tiny figures, so it
cannot rot. Count and invariant assertions only, no timings."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = pytest.mark.e2e

SMOKE_ARGS = [
    "--users", "6", "--conversations", "3", "--max-messages", "60", "--duration", "60",
    "--storms", "1", "--storm-fraction", "0.6", "--senders", "4", "--retry-fraction", "0.3",
    "--inbox-watchers", "3", "--inbox-wait", "30", "--time-limit", "200",
]


@pytest.fixture(scope="module")
def report() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", *SMOKE_ARGS],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=280,
    )
    assert done.stdout.strip(), f"no JSON on stdout (exit {done.returncode}):\n{done.stderr[-4000:]}"
    document = json.loads(done.stdout)
    assert done.returncode == (0 if document["ok"] else 1), done.stderr[-4000:]
    return document


def test_every_invariant_holds(report: dict) -> None:
    assert report["failed_invariants"] == [], json.dumps(report["results"], indent=2)
    assert report["ok"] is True
    assert all(report["invariants"].values())


def test_the_workload_ran_as_asked(report: dict) -> None:
    setup, results = report["setup"], report["results"]
    assert setup["users"] == 6
    assert setup["conversations"] == 3
    assert setup["direct"] >= 1 and setup["groups"] >= 1
    assert setup["subscriptions"] >= 6  # every user subscribes to each of its conversations
    messages = results["messages"]
    assert messages["attempted"] == 60  # the count bound, not the time bound, ended it
    assert messages["acknowledged"] == messages["stored"] == messages["stored_exactly_once"] == 60
    assert messages["stored_more_than_once"] == messages["acknowledged_not_stored"] == 0
    # every retry kind was exercised, and every retry answered with the original message
    retries = results["retries"]
    assert retries["retry_after_answer"] >= 1
    assert retries["concurrent_duplicate"] >= 1
    assert retries["retry_after_lost_answer"] >= 1
    assert retries["retry_answers_checked"] >= 2
    assert retries["inconsistent"] == 0


def test_storm_reconnected_and_caught_up(report: dict) -> None:
    results = report["results"]
    [storm] = results["storms"]
    assert storm["dropped"] >= 1
    assert storm["all_reconnected_and_caught_up"] is True
    assert results["reconnects"] >= storm["dropped"]
    deliveries = results["deliveries"]
    assert deliveries["missed"] == 0
    assert deliveries["conflicting_same_seq"] == 0
    assert deliveries["live_first"] + deliveries["caught_up"] == deliveries["expected"]
    assert deliveries["live_first"] > 0


def test_fan_out_is_watched(report: dict) -> None:
    inbox = report["results"]["inbox_fan_out"]
    assert inbox["watchers"] == 3
    assert inbox["events_expected"] > 0
    assert inbox["errors"] == []


def test_the_fan_out_lag_and_backlog_are_reported(report: dict) -> None:
    """Lag from each message's commit to each expected inbox event, the backlog every 5 s
    from the first send to the end of the wait, and what is missing after it (counts and
    shapes only: the figures themselves are load-dependent)."""
    inbox = report["results"]["inbox_fan_out"]
    expected, received, missing = (inbox["events_expected"], inbox["events_received"],
                                   inbox["events_missing"])
    assert received + missing == expected and received > 0
    lag = inbox["lag_ms"]
    assert lag["samples"] == received
    assert 0 < lag["p50"] <= lag["p95"] <= lag["p99"] <= lag["max"]
    timeline = inbox["backlog_timeline"]
    assert inbox["backlog_every_s"] == 5.0
    assert timeline[0]["t_s"] == 0.0 and len(timeline) >= 2
    assert all(b["t_s"] - a["t_s"] <= 5.0 for a, b in itertools.pairwise(timeline))
    assert all(row["backlog"] == row["committed"] - row["fanned_out"] >= 0 for row in timeline)
    assert timeline[-1]["committed"] == inbox["watched_messages"]
    assert inbox["backlog_max"] == max(row["backlog"] for row in timeline)
    assert inbox["backlog_at_last_send"] is not None
    if missing == 0:
        assert timeline[-1]["backlog"] == 0 and timeline[-1]["oldest_pending_s"] == 0.0


def test_memory_is_reported(report: dict) -> None:
    memory = report["memory_mb"]
    for phase in ("start", "end"):
        assert memory[phase]["total_mb"] > 0
        assert len(memory[phase]["processes_mb"]) >= 2  # the local stack and moto
