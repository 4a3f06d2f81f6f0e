"""bench.soak._lag: the soak's fan-out figures (lag from commit to inbox event, backlog over
time and its trend, missing events), from recorded times."""

from __future__ import annotations

import pytest

from bench.soak._lag import fan_out_figures

T0 = 1_000_000.0


def test_lag_is_receipt_minus_commit_per_expected_event() -> None:
    commits = {("c", 1): T0, ("c", 2): T0 + 1}
    receipts = [("w1", ("c", 1), T0 + 0.5), ("w2", ("c", 1), T0 + 1.5),
                ("w1", ("c", 2), T0 + 1.25)]
    f = fan_out_figures(commits, receipts, started=T0, last_send=T0 + 1, ended=T0 + 2)
    assert (f["events_expected"], f["events_received"], f["events_missing"]) == (3, 3, 0)
    assert f["lag_ms"]["samples"] == 3
    assert f["lag_ms"]["p50"] == 500.0
    assert f["lag_ms"]["max"] == 1500.0
    assert f["lag_ms"]["p99"] == 1500.0


def test_a_missing_event_is_counted_and_keeps_its_message_in_the_backlog() -> None:
    commits = {("c", 1): T0, ("c", 2): T0 + 1}
    receipts = [("w1", ("c", 1), T0 + 0.5), ("w2", ("c", 1), None),
                ("w1", ("c", 2), T0 + 1.5)]
    f = fan_out_figures(commits, receipts, started=T0, last_send=T0 + 2, ended=T0 + 10, every=5)
    assert f["events_missing"] == 1
    assert f["lag_ms"]["samples"] == 2
    rows = f["backlog_timeline"]
    assert [r["t_s"] for r in rows] == [0.0, 5.0, 10.0]
    # at t=0 one message is committed and nothing fanned out; later ("c", 2) is done, while
    # ("c", 1) never is (w2 never got it): a backlog of 1, ten seconds old at the end
    assert [(r["committed"], r["fanned_out"], r["backlog"]) for r in rows] == \
        [(1, 0, 1), (2, 1, 1), (2, 1, 1)]
    assert rows[-1]["oldest_pending_s"] == 10.0
    assert f["backlog_max"] == 1


def test_a_message_is_fanned_out_when_its_last_expected_event_arrived() -> None:
    commits = {("c", 1): T0}
    receipts = [("w1", ("c", 1), T0 + 1), ("w2", ("c", 1), T0 + 7)]
    f = fan_out_figures(commits, receipts, started=T0, last_send=T0, ended=T0 + 10, every=5)
    assert [r["backlog"] for r in f["backlog_timeline"]] == [1, 1, 0]
    assert [r["oldest_pending_s"] for r in f["backlog_timeline"]] == [0.0, 5.0, 0.0]


def test_the_backlog_trend_during_the_sends() -> None:
    # one message a second, the fan-out 0.5 s behind: a flat backlog
    commits = {("c", i): T0 + i for i in range(60)}
    flat = [("w", k, t + 0.5) for k, t in commits.items()]
    f = fan_out_figures(commits, flat, started=T0, last_send=T0 + 60, ended=T0 + 65, every=5)
    assert f["backlog_slope_msg_per_s_during_sends"] == pytest.approx(0, abs=0.05)
    assert f["backlog_at_last_send"] <= 1
    # the fan-out at half the sending rate: the backlog grows by half a message a second
    slow = [("w", k, T0 + 2 * i) for i, k in enumerate(commits)]
    g = fan_out_figures(commits, slow, started=T0, last_send=T0 + 60, ended=T0 + 125, every=5)
    assert g["backlog_slope_msg_per_s_during_sends"] == pytest.approx(0.5, abs=0.05)
    assert g["backlog_at_last_send"] == pytest.approx(30, abs=1)
    assert g["backlog_timeline"][-1]["backlog"] == 0


def test_a_receipt_without_a_commit_time_is_an_error() -> None:
    with pytest.raises(ValueError, match="no commit time"):
        fan_out_figures({}, [("w", ("c", 1), T0)], started=T0, last_send=T0, ended=T0)


def test_the_last_row_is_at_the_waits_end_so_every_commit_is_counted() -> None:
    """A fast fan-out ends the wait moments after the last sends: a row a few tenths of a
    second before the end must not be the last one (the CI run at 36ce200 counted 57 of 60
    committed messages in the final row)."""
    commits = {("c", 1): T0 + 1, ("c", 2): T0 + 5.1, ("c", 3): T0 + 5.2}
    receipts = [("w1", key, at + 0.05) for key, at in commits.items()]
    f = fan_out_figures(commits, receipts, started=T0, last_send=T0 + 5.2, ended=T0 + 5.3)
    rows = f["backlog_timeline"]
    assert [r["t_s"] for r in rows] == [0.0, 5.0, 5.3]
    assert (rows[-1]["committed"], rows[-1]["fanned_out"]) == (3, 3)
