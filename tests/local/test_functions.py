"""cloudchat_local._functions: each template function in worker processes of its own, as on
Lambda (environment, credentials, concurrency, timeout, crashes, errors, stop).

The handlers are a throwaway module written into a temporary directory, wired into a
throwaway template (two functions, Globals, one variable each of their own)."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudchat_local._functions import (
    LAMBDA_DEFINED,
    PLUMBING,
    FunctionPool,
    FunctionPools,
    function_config,
)
from cloudchat_local._identity import credentials_for
from cloudchat_local.emulator import LambdaContext
from cloudchat_local.emulator._events import invoke_handler
from cloudchat_local.emulator._execute import invocation_outcome
from cloudchat_local.errors import FunctionStartError
from cloudchat_local.template import DEFAULT_TEMPLATE_PATH, Template

HANDLERS = '''
import json, os, sys, time

COUNT = 0


def env(event, context):
    return dict(os.environ)


def context(event, context):
    return {"function_name": context.function_name, "request": context.aws_request_id,
            "arn": context.invoked_function_arn, "memory": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(),
            "group": context.log_group_name, "stream": context.log_stream_name}


def count(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "pid": os.getpid()}


def sleep(event, context):
    time.sleep(event.get("seconds", 0))
    print("a line on stdout, as Powertools logs")  # never reaches the protocol
    sys.stdout.flush()
    return {"pid": os.getpid(), "echo": event}


def boom(event, context):
    raise ValueError(event.get("message", "bad input"))


def crash(event, context):
    os._exit(3)


def unmarshalable(event, context):
    return {"when": object()}
'''


def _template(tmp_path: Path, **overrides: Any) -> Template:
    package = tmp_path / "fakefns"
    package.mkdir(exist_ok=True)
    (package / "handlers.py").write_text(textwrap.dedent(HANDLERS), encoding="utf-8")

    def function(handler: str, variables: dict[str, str]) -> dict[str, Any]:
        return {"Type": "AWS::Serverless::Function", "Properties": {
            "Handler": f"handlers.{handler}", "Environment": {"Variables": variables},
            **overrides}}

    document = {
        "Globals": {"Function": {"Runtime": "python3.12", "CodeUri": "fakefns/", "Timeout": 5,
                                 "MemorySize": 256,
                                 "Environment": {"Variables": {"SHARED": {"Ref": "Thing"}}}}},
        "Resources": {
            "FakeFunction": function("env", {"ONLY_FAKE": "fake"}),
            "OtherFunction": function("env", {"ONLY_OTHER": "other"}),
        },
    }
    return Template(document, DEFAULT_TEMPLATE_PATH)


def _pool(tmp_path: Path, handler: str = "env", logical_id: str = "FakeFunction", *,
          timeout: float | None = None, **options: Any) -> FunctionPool:
    overrides = {"Timeout": timeout} if timeout is not None else {}
    template = _template(tmp_path, **overrides)
    fn = template.document["Resources"][logical_id]["Properties"]  # type: ignore[index]
    fn["Handler"] = f"handlers.{handler}"
    config = function_config(
        template, logical_id, {"Thing": "thing", logical_id: f"stack-{logical_id.lower()}"},
        endpoint="http://127.0.0.1:9", region="eu-west-1", account_id="123456789012",
        python_path=[str(tmp_path), *sys.path],
    )
    return FunctionPool(config, **options)


@pytest.fixture
def pools() -> Iterator[list[FunctionPool]]:
    """Pools the test starts: stopped afterwards whatever happens."""
    started: list[FunctionPool] = []
    yield started
    for pool in started:
        pool.stop()


def _context(request_id: str = "req-1") -> LambdaContext:
    context = LambdaContext(function_name="x", memory_limit_in_mb=1, timeout_s=1)
    context.aws_request_id = request_id
    return context


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------- environment


def test_a_worker_sees_exactly_its_function_environment(
    tmp_path: Path, pools: list[FunctionPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARENT_ONLY", "leaks")
    monkeypatch.setenv("AWS_PROFILE", "developer")
    fake = _pool(tmp_path)
    other = _pool(tmp_path, logical_id="OtherFunction")
    pools.extend([fake, other])
    env = fake({}, _context()).result
    assert set(env) == {"SHARED", "ONLY_FAKE", *LAMBDA_DEFINED, *PLUMBING,
                        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert env["SHARED"] == "thing" and env["ONLY_FAKE"] == "fake"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == credentials_for("FakeFunction")
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "stack-fakefunction"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["_HANDLER"] == "handlers.env"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert env["POWERTOOLS_TRACE_DISABLED"] == env["POWERTOOLS_METRICS_DISABLED"] == "true"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull

    other_env = other({}, _context()).result
    assert "ONLY_FAKE" not in other_env and other_env["ONLY_OTHER"] == "other"
    assert other_env["AWS_ACCESS_KEY_ID"] == credentials_for("OtherFunction")[0] != env["AWS_ACCESS_KEY_ID"]


def test_the_context_is_lambdas(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "context", timeout=4)
    pools.append(pool)
    got = pool({}, _context("req-42")).result
    assert got["function_name"] == "stack-fakefunction"
    assert got["request"] == "req-42"
    assert got["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:stack-fakefunction"
    assert got["memory"] == 256
    assert 3000 < got["remaining"] <= 4000
    assert got["group"] == "/aws/lambda/stack-fakefunction"
    assert "[$LATEST]" in got["stream"]


# --------------------------------------------------------------------------- concurrency


def _concurrently(pool: FunctionPool, n: int, seconds: float) -> list[Any]:
    results: list[Any] = [None] * n

    def call(i: int) -> None:
        results[i] = pool({"seconds": seconds, "i": i}, _context(f"req-{i}"))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_workers_grow_when_all_are_busy_and_stay_warm(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "sleep")
    pools.append(pool)
    pool.prewarm()
    assert len(pool.pids) == 1 and pool.cold_starts == 1
    results = _concurrently(pool, 3, 1.0)
    assert all(r.error is None for r in results), results
    assert [r.result["echo"]["i"] for r in results] == [0, 1, 2]
    busy_pids = {r.result["pid"] for r in results}
    assert len(busy_pids) == 3  # one invocation at a time per worker
    assert pool.cold_starts == 3 and set(pool.pids) == busy_pids
    # Idle workers stay warm: a later invocation starts nothing new.
    assert pool({"seconds": 0}, _context()).result["pid"] in busy_pids
    assert pool.cold_starts == 3


def test_concurrency_is_bounded(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "sleep", max_concurrency=2)
    pools.append(pool)
    results = _concurrently(pool, 4, 0.5)
    assert all(r.error is None for r in results), results
    assert len({r.result["pid"] for r in results}) == 2
    assert pool.cold_starts == 2


def test_a_warm_worker_keeps_its_module_state(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "count")
    pools.append(pool)
    counts = [pool({}, _context()).result for _ in range(3)]
    assert [c["count"] for c in counts] == [1, 2, 3]
    assert len({c["pid"] for c in counts}) == 1


# --------------------------------------------------------------------------- failures


def test_a_timed_out_invocation_kills_its_worker(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "sleep", timeout=1)
    pools.append(pool)
    pool.prewarm()
    [pid] = pool.pids
    started = time.monotonic()
    outcome = pool({"seconds": 30}, _context())
    assert time.monotonic() - started < 10
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Sandbox.Timedout"
    assert outcome.error["errorMessage"] == "Task timed out after 1.00 seconds"
    assert not _alive(pid) and pool.pids == []
    # the next invocation gets a new execution environment
    again = pool({"seconds": 0}, _context())
    assert again.error is None and again.result["pid"] != pid


def test_a_crashed_worker_fails_its_invocation_and_is_replaced(
    tmp_path: Path, pools: list[FunctionPool]
) -> None:
    pool = _pool(tmp_path, "crash")
    pools.append(pool)
    outcome = pool({}, _context())
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Runtime.ExitError"
    assert outcome.error["errorMessage"] == "Runtime exited with error: exit status 3"
    assert pool.pids == []
    assert pool({}, _context()).error is not None and pool.cold_starts == 2


def test_an_unhandled_error_has_lambdas_shape(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "boom")
    pools.append(pool)
    outcome = pool({"message": "bad input"}, _context())
    assert outcome.error is not None
    assert set(outcome.error) == {"errorType", "errorMessage", "stackTrace"}
    assert outcome.error["errorType"] == "ValueError"
    assert outcome.error["errorMessage"] == "bad input"
    assert any("handlers.py" in line and "boom" in line for line in outcome.error["stackTrace"])
    assert len(pool.pids) == 1  # the worker survives a handler's exception, as on Lambda


def test_the_emulator_sees_what_it_saw_in_process(tmp_path: Path, pools: list[FunctionPool]) -> None:
    """An exception, an empty-message exception and an unmarshalable result reach the client
    as they did when the handler ran in the emulator's process."""

    def boom(event: Any, context: Any) -> Any:
        raise ValueError(event["message"]) if event["message"] else ValueError()

    def unmarshalable(event: Any, context: Any) -> Any:
        return {"when": object()}

    raising, bad_result = _pool(tmp_path, "boom"), _pool(tmp_path, "unmarshalable")
    pools.extend([raising, bad_result])
    event = {"info": {"parentTypeName": "Query", "fieldName": "x"}}
    for message in ("bad input", ""):
        here = invoke_handler(boom, {**event, "message": message}, _context())
        there = invocation_outcome(raising({**event, "message": message}, _context()), event, _context())
        assert there == here
    here = invoke_handler(unmarshalable, event, _context())
    there = invocation_outcome(bad_result(event, _context()), event, _context())
    assert there == here
    assert "Unable to marshal response" in str(there)


def test_a_handler_that_does_not_load_fails_the_start(tmp_path: Path, pools: list[FunctionPool]) -> None:
    pool = _pool(tmp_path, "no_such_handler")
    pools.append(pool)
    with pytest.raises(FunctionStartError, match="no_such_handler") as caught:
        FunctionPools({"FakeFunction": pool}).prewarm()
    assert caught.value.error_type == "Runtime.HandlerNotFound"
    outcome = pool({}, _context())
    assert outcome.error is not None and outcome.error["errorType"] == "Runtime.HandlerNotFound"
    assert pool.pids == []


# --------------------------------------------------------------------------- stop


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    pool = _pool(tmp_path, "sleep")
    _concurrently(pool, 2, 0.5)  # two workers, idle afterwards
    pids = pool.pids
    assert len(pids) == 2
    busy: list[Any] = []
    caller = threading.Thread(target=lambda: busy.append(pool({"seconds": 30}, _context())))
    caller.start()
    time.sleep(0.5)  # one worker busy, one idle
    pool.stop()
    caller.join(10)
    assert not caller.is_alive()
    assert busy[0].error["errorType"] == "Runtime.ExitError"
    assert busy[0].error["errorMessage"] == "Runtime exited with error: signal: killed"
    assert pool.pids == []
    assert not any(_alive(pid) for pid in pids)
    outcome = pool({}, _context())  # a stopped pool starts nothing
    assert outcome.error is not None and "stopping" in outcome.error["errorMessage"]


def test_a_lambda_resolver_has_a_handler_or_an_invoker(tmp_path: Path) -> None:
    from cloudchat_local.emulator import ConfigError, LambdaResolver

    pool = _pool(tmp_path)
    assert LambdaResolver(invoker=pool).invoker is pool
    with pytest.raises(ConfigError):
        LambdaResolver()
    with pytest.raises(ConfigError):
        LambdaResolver(lambda event, context: None, invoker=pool)
