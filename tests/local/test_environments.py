"""cloudchat_local._environments: a lane's process environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudchat_local._environments import ProcessEnvironment
from cloudchat_local.errors import InvocationFailed

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except FileNotFoundError:
        return False


def test_an_environment_runs_the_handler_in_its_own_warm_process() -> None:
    environment = ProcessEnvironment("tests.local.fake_stream_handler", "handler")
    try:
        pid = environment.pid()
        assert pid != os.getpid() and _alive(pid)
        record = {"dynamodb": {"SequenceNumber": "1", "Keys": {"PK": {"S": "k"}},
                               "NewImage": {"mode": {"S": "fail-once"}}}}
        first = environment.invoke({"Records": [record]}, None)
        again = environment.invoke({"Records": [record]}, None)  # same process: it remembers
        assert first == {"batchItemFailures": [{"itemIdentifier": "1"}]}
        assert again == {"batchItemFailures": []}
        assert environment.pid() == pid
        raising = {"dynamodb": {"SequenceNumber": "2", "Keys": {"PK": {"S": "k"}},
                                "NewImage": {"mode": {"S": "always-raise"}}}}
        with pytest.raises(InvocationFailed, match="handler failed on 2"):
            environment.invoke({"Records": [raising]}, None)  # a function error
    finally:
        environment.close()
    assert not _alive(pid)


def test_an_environment_does_not_outlive_its_parent(tmp_path: Path) -> None:
    """Killed parents (SIGKILL, a crash) leave no environment process behind."""
    out = tmp_path / "pid"
    script = (
        "import os, sys\n"
        "from cloudchat_local._environments import ProcessEnvironment\n"
        "env = ProcessEnvironment('tests.local.fake_stream_handler', 'handler')\n"
        f"open({str(out)!r}, 'w').write(str(env.pid()))\n"
        "os._exit(0)\n"  # no cleanup at all
    )
    subprocess.run([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=ROOT, timeout=120, check=True)
    pid = int(out.read_text())
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"environment {pid} outlived its parent"


def test_a_handler_logging_to_stdout_never_blocks_on_a_pipe_nobody_reads(tmp_path: Path) -> None:
    """The stream consumers' process starts its lanes while its stdout is still the pipe its
    parent reads READY from (and then stops reading): a lane's handler writing its logs to
    stdout must not fill that pipe and hang. Its stdout is its stderr, as Lambda captures
    both into the function's logs."""
    out = tmp_path / "done"
    script = (
        "from cloudchat_local._environments import ProcessEnvironment\n"
        "env = ProcessEnvironment('tests.local.fake_stream_handler', 'handler')\n"
        "record = {'dynamodb': {'SequenceNumber': '1', 'Keys': {'PK': {'S': 'k'}},\n"
        "                       'NewImage': {'mode': {'S': 'chatty'}}}}\n"
        "result = env.invoke({'Records': [record]}, None)\n"
        f"open({str(out)!r}, 'w').write(repr(result))\n"
        "env.close()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert out.exists(), "the lane blocked writing to stdout"
        assert out.read_text() == "{'batchItemFailures': []}"
        assert process.stdout is not None
        process.wait(30)
    finally:
        process.kill()
        process.wait()
