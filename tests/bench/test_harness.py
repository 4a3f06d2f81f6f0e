"""bench.harness: percentiles and units, the JSON document, the machine description, child
processes and /proc figures, and the GraphQL documents (one Message fragment, valid against
the schemas they are sent to)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from graphql import FragmentDefinitionNode, parse, validate

from bench import harness
from bench.harness import _documents
from cloudchat_local.emulator import load_schema

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- statistics

def test_percentile_of_nothing_is_none() -> None:
    assert harness.percentile([], 50) is None


def test_percentile_is_the_nearest_rank_of_the_sorted_values() -> None:
    values = [float(v) for v in range(100, -1, -1)]  # 0..100, given in reverse
    assert harness.percentile(values, 0) == 0
    assert harness.percentile(values, 50) == 50
    assert harness.percentile(values, 90) == 90
    assert harness.percentile(values, 99) == 99
    assert harness.percentile(values, 100) == 100
    assert values[0] == 100  # the input is not sorted in place


def test_percentile_picks_a_value_never_interpolates() -> None:
    assert harness.percentile([1.0, 3.0, 7.0], 99) == 7.0
    assert harness.percentile([1.0, 3.0, 7.0], 50) == 3.0
    assert harness.percentile([1.0, 3.0, 7.0], 40) == 3.0  # index round(0.8) = 1
    assert harness.percentile([1.0, 3.0, 7.0], 20) == 1.0  # index round(0.4) = 0
    assert harness.percentile([2.5], 99) == 2.5


def test_percentile_clamps_out_of_range_quantiles() -> None:
    assert harness.percentile([1.0, 2.0], -10) == 1.0
    assert harness.percentile([1.0, 2.0], 250) == 2.0


def test_ms_converts_seconds_and_rounds_to_hundredths() -> None:
    assert harness.ms(0.0123456) == 12.35
    assert harness.ms(2) == 2000
    assert harness.ms(0) == 0
    assert harness.ms(None) is None


def test_ratio() -> None:
    assert harness.ratio(3, 2) == 1.5
    assert harness.ratio(1, 3) == 0.33
    assert harness.ratio(None, 2) is None
    assert harness.ratio(2, None) is None
    assert harness.ratio(2, 0) is None


# --------------------------------------------------------------------------- the document

def test_emit_prints_the_document_and_writes_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = {"benchmark": "x", "figures": {"p50": 1.5, "missing": None}}
    out = tmp_path / "out.json"
    text = harness.emit(document, out)
    printed = capsys.readouterr().out
    assert printed == text + "\n"
    assert json.loads(printed) == document
    assert out.read_text() == text + "\n"
    assert text == json.dumps(document, indent=2)


def test_emit_without_output_only_prints(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    harness.emit({"a": [1]}, indent=1)
    assert capsys.readouterr().out == '{\n "a": [\n  1\n ]\n}\n'


def test_machine_info_describes_cores_load_python_and_commit() -> None:
    info = harness.machine_info()
    assert info["cpu_count"] == os.cpu_count()
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    load = info["load_average_at_start"]
    assert isinstance(load, list) and len(load) == 3 and all(x >= 0 for x in load)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert info["commit"] in (head, f"{head}-dirty")
    json.dumps(info)  # it goes into the JSON document as is


def test_load_average_is_rounded() -> None:
    load = harness.load_average()
    assert load is not None and len(load) == 3
    assert all(round(x, 2) == x for x in load)


def test_utc_now_is_an_iso_utc_timestamp() -> None:
    stamp = harness.utc_now()
    assert time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def test_host_is_what_appsync_auth_signs() -> None:
    assert harness.host("http://127.0.0.1:4000/graphql") == "127.0.0.1:4000"
    assert harness.host("ws://127.0.0.1:4000/graphql/realtime") == "127.0.0.1:4000"
    assert harness.host("https://example.com") == "example.com"


def test_run_async_returns_the_result_and_bounds_the_time() -> None:
    async def answer() -> int:
        return 42

    async def forever() -> None:
        import asyncio

        await asyncio.sleep(60)

    assert harness.run_async(answer(), 5) == 42
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        harness.run_async(forever(), 0.2)
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- processes

def test_a_child_is_seen_measured_and_stopped(tmp_path: Path) -> None:
    code = ("import json, os, time; print(json.dumps({'cwd': os.getcwd()}), flush=True); "
            "sum(range(3_000_000)); time.sleep(60)")
    child = harness.spawn("sleeper", [sys.executable, "-c", code], tmp_path / "child.log")
    try:
        assert harness.read_ready_line(child, 30) == {"cwd": str(REPO)}  # python -m bench... works
        pid = child.process.pid
        assert pid in harness.children_of(os.getpid())
        assert pid in harness.descendants_of(os.getpid())
        assert harness.process_role(pid) is None
        rss = harness.rss_mb(pid)
        assert rss is not None and rss > 1
        deadline = time.monotonic() + 10
        while harness.cpu_seconds(pid) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert harness.cpu_seconds(pid) > 0
    finally:
        child.stop(timeout=10)
    assert child.process.returncode is not None
    assert harness.cpu_seconds(pid) == 0  # gone: /proc has nothing
    assert harness.rss_mb(pid) is None


def test_a_child_that_dies_before_its_ready_line_is_reported(tmp_path: Path) -> None:
    child = harness.spawn("failing", [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); "
                                      "sys.exit(3)"], tmp_path / "failing.log")
    with pytest.raises(RuntimeError, match=r"failing exited with 3:\nboom"):
        harness.read_ready_line(child, 30)


def test_a_silent_child_times_out(tmp_path: Path) -> None:
    child = harness.spawn("silent", [sys.executable, "-c", "import time; time.sleep(60)"],
                          tmp_path / "silent.log")
    try:
        with pytest.raises(TimeoutError, match="silent was not ready in 0 s"):
            harness.read_ready_line(child, 0.3)
    finally:
        child.stop(timeout=10)


def test_free_port_is_bindable_on_loopback() -> None:
    import socket

    port = harness.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------- documents

MESSAGE_DOCUMENTS = {"SEND_MESSAGE": harness.SEND_MESSAGE, "ON_MESSAGE": harness.ON_MESSAGE,
                     "MESSAGES_SINCE": harness.MESSAGES_SINCE}


@pytest.mark.parametrize("name", MESSAGE_DOCUMENTS)
def test_every_message_document_selects_the_one_fragment(name: str) -> None:
    document = parse(MESSAGE_DOCUMENTS[name])
    [fragment] = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    assert fragment.name.value == "MessageFields"
    assert MESSAGE_DOCUMENTS[name].count(harness.MESSAGE_FIELDS) == 1


def test_the_documents_are_written_once_in_bench() -> None:
    """No benchmark keeps its own copy of a client's GraphQL document (a switch to the client
    library's documents is a change to one module). (bench/publish.py builds the stream
    consumer's replaced aliased publish mutation: the server side under test, not a client's.)"""
    document = re.compile(r"fragment \w+ on |(mutation|query|subscription)( \w+)?(\(\$|\s*\{)")
    where = [str(p.relative_to(REPO)) for p in (REPO / "bench").rglob("*.py")
             if ".scratch" not in p.parts and document.search(p.read_text())]
    assert where == ["bench/harness/_documents.py"]


@pytest.mark.parametrize("name", ["ME", "CREATE_CONVERSATION", "SEND_MESSAGE", "ON_MESSAGE", "MESSAGES_SINCE",
                                  "ON_USER_EVENT"])
def test_documents_are_valid_against_the_api_schema(name: str) -> None:
    schema = load_schema(REPO / "schema.graphql")
    assert validate(schema, parse(getattr(_documents, name))) == []


@pytest.mark.parametrize("name", ["ECHO", "ON_ECHO"])
def test_echo_documents_are_valid_against_the_echo_schema(name: str) -> None:
    schema = load_schema(REPO / "bench" / "realtime" / "echo.graphql")
    assert validate(schema, parse(getattr(_documents, name))) == []
