"""cloudchat_local.dev: the programmatic LocalStack (in this process) and its helpers.

The CLI is driven end to end as a subprocess in tests/e2e; here the same LocalStack runs
in-process, with a throwaway stream consumer added to a copy of template.yaml. (Each
function's isolation: tests/local/test_functions*.py.)"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudchat_local import dev
from cloudchat_local._functions import function_config
from cloudchat_local._outputs import banner, template_outputs
from cloudchat_local._stack_settings import state_lock
from cloudchat_local._stack_wiring import auth_settings
from cloudchat_local.provision import graphql_api_resolve
from cloudchat_local.template import Template, load_template

from . import fake_stream_handler as fake
from .test_streams import template_with_consumer


@pytest.fixture
def restored_environment() -> Iterator[None]:
    """LocalStack must leave this process's environment alone: checked, and put back."""
    saved = dict(os.environ)
    try:
        yield
        now = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        assert now == {k: v for k, v in saved.items() if k != "PYTEST_CURRENT_TEST"}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _logging_consumer(log: Path, **properties: Any) -> Template:
    """template_with_consumer() whose fake function logs its invocations to ``log`` (its
    environment is its template's: a variable set here would not reach it)."""
    template = template_with_consumer(**properties)
    fn = template.document["Resources"]["FakeStreamFunction"]["Properties"]  # type: ignore[index]
    fn["Environment"] = {"Variables": {"FAKE_STREAM_LOG": str(log)}}
    return template


def test_local_stack_in_process_runs_the_template_and_its_stream_consumers(
    tmp_path: Path, restored_environment: None
) -> None:
    fake.reset()
    log = tmp_path / "consumer.jsonl"
    template = _logging_consumer(log, StartingPosition="TRIM_HORIZON", BatchSize=100)
    with dev.start(tmp_path / "state", template=template) as stack:
        assert stack.graphql_url.startswith("http://127.0.0.1:")
        assert stack.realtime_url.startswith("ws://127.0.0.1:")
        assert stack.https_graphql_url is None  # no TLS unless asked
        assert {u.name for u in stack.demo_users} == {"alice", "bob", "carol", "mod"}
        assert "TABLE_NAME" not in os.environ  # the functions' environments are their own
        outputs = stack.outputs
        assert outputs["GraphQLApiUrl"] == stack.graphql_url
        assert outputs["DemoConversationId"]
        assert {"function": "FakeStreamFunction", "stream": stack.provisioned.table_stream_arn} in (  # type: ignore[union-attr]
            outputs["StreamConsumers"]
        )
        assert (tmp_path / "outputs.json").is_file()

        # The demo conversation was written through the real resolvers; its messages reach
        # the consumer as stream records (and so does everything else written to the table),
        # in the stream function's own process, as on Lambda.
        [consumer] = [c for c in stack.consumers if c.function == "FakeStreamFunction"]
        assert {c.function for c in stack.consumers} == {"FakeStreamFunction", "StreamFunction"}
        conv = f"CONV#{outputs['DemoConversationId']}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and sum(
                k == conv for call in fake.logged(str(log)) for k in call["keys"]) < 3:
            time.sleep(0.1)
        calls = fake.logged(str(log))
        assert sum(k == conv for call in calls for k in call["keys"]) >= 3
        assert calls[0]["eventSourceARN"] == stack.provisioned.table_stream_arn  # type: ignore[union-attr]
        assert calls[0]["function_name"] == "cloudchat-local-FakeStreamFunction"
        assert {call["pid"] for call in calls} == {consumer.process.pid}
        assert consumer.process.pid != os.getpid()
        assert fake.CALLS == []  # nothing ran in this process
        consumers = stack.consumers
        workers = [pid for pool in stack.functions.values() for pid in pool.pids]
        assert workers and os.getpid() not in workers
    assert not stack.moto.alive()  # type: ignore[union-attr]
    assert not any(c.alive() for c in consumers)
    assert all(pool.pids == [] for pool in stack.functions.values())
    assert (tmp_path / "state" / dev.MOTO_STATE_FILE).is_file()
    for function in ("FakeStreamFunction", "StreamFunction"):
        assert (tmp_path / "state" / dev.STREAM_CHECKPOINTS_FILE.format(function=function)).is_file()


def test_legacy_checkpoints_carry_over_and_fresh_deletes_them(tmp_path: Path) -> None:
    """stream-checkpoints.json (every function's, from before one process per function) is
    taken over by each function's own file; --fresh deletes them all, and the recorded IAM usage."""
    state = tmp_path / "state"
    state.mkdir()
    legacy = {"version": 1, "checkpoints": {"StreamFunction/TableStream": {
        "streamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/old/stream/x", "shards": {}}}}
    (state / dev.LEGACY_CHECKPOINTS_FILE).write_text(json.dumps(legacy))
    with dev.start(state, seed=False):
        pass
    own = state / dev.STREAM_CHECKPOINTS_FILE.format(function="StreamFunction")
    assert json.loads(own.read_text())["checkpoints"]["StreamFunction/TableStream"] is not None
    assert not (state / dev.LEGACY_CHECKPOINTS_FILE).exists()
    usage = state / dev.IAM_USAGE_FILE
    usage.write_text('{"version": 1, "functions": {"MessagesFunction": {"Table": {"dynamodb:GetItem": "t"}}}}')
    with dev.start(state, seed=False, fresh=True):
        assert not own.exists()
        assert "MessagesFunction" not in usage.read_text() if usage.exists() else True


def test_a_second_stack_cannot_share_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with state_lock(state), pytest.raises(dev.StateDirBusy, match="another local stack"):
        dev.LocalStack(state, port=0, tls_port=None, moto_port=0).start()


def test_a_busy_port_fails_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        stack = dev.LocalStack(tmp_path / "state", port=port, tls_port=None, moto_port=0)
        with pytest.raises(dev.PortInUse, match=f"port {port} .*--port") as caught:
            stack.start()
    assert caught.value.exit_code == 2
    assert stack.moto is None


def test_each_function_gets_its_own_template_environment() -> None:
    template = load_template()

    class Anything(dict[str, str]):
        """Resolves every reference (the template grows; this test is about which function
        gets which variable)."""

        def __contains__(self, key: object) -> bool:
            return True

        def __missing__(self, key: str) -> str:
            return f"<{key}>"

    resolve = Anything(graphql_api_resolve(template, "http://127.0.0.1:4000/graphql"))
    resolve["Table"] = "t"
    resolve["UsersFunction"] = "cc-users"

    def env(logical_id: str) -> Any:
        return function_config(template, logical_id, resolve, endpoint="http://127.0.0.1:1",
                                   region="us-east-1", account_id="123456789012").environment

    users, messages, stream = env("UsersFunction"), env("MessagesFunction"), env("StreamFunction")
    assert users["TABLE_NAME"] == messages["TABLE_NAME"] == stream["TABLE_NAME"] == "t"  # Globals
    assert "USER_POOL_ID" in users and "USER_POOL_ID" not in messages
    assert stream["APPSYNC_URL"] == "http://127.0.0.1:4000/graphql" and "APPSYNC_URL" not in users
    assert users["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert users["POWERTOOLS_TRACE_DISABLED"] == users["POWERTOOLS_METRICS_DISABLED"] == "true"
    assert "127.0.0.1" in users["NO_PROXY"]
    assert users["AWS_LAMBDA_FUNCTION_NAME"] == "cc-users"
    assert users["AWS_ACCESS_KEY_ID"] != messages["AWS_ACCESS_KEY_ID"]


def test_auth_settings_follow_the_template() -> None:
    types, client_regex = auth_settings(load_template())
    assert types == {"AMAZON_COGNITO_USER_POOLS", "AWS_IAM"}
    assert client_regex is None  # any app client of the pool, as AppSync does


def test_template_outputs_and_banner(tmp_path: Path) -> None:
    template = load_template()
    resolve = {
        "UserPool": "pool", "UserPoolClient": "client", "AWS::Region": "us-east-1", "Table": "t",
        "ChatKey.Arn": "arn:k",
    }
    values = template_outputs(template, resolve)  # GraphQLApi.* unresolved: left out
    assert values["UserPoolId"] == "pool" and values["TableName"] == "t"
    assert "GraphQLApiUrl" not in values
    outputs = {
        "GraphQLApiUrl": "http://127.0.0.1:4000/graphql", "GraphQLRealtimeUrl": "ws://127.0.0.1:4000/graphql/realtime",
        "GraphiQLUrl": "http://127.0.0.1:4000/graphql", "GraphQLApiHttpsUrl": "https://127.0.0.1:4443/graphql",
        "GraphQLRealtimeWssUrl": "wss://127.0.0.1:4443/graphql/realtime", "TlsCertificate": str(tmp_path / "c.pem"),
        "AwsEndpointUrl": "http://127.0.0.1:4010", "UserPoolId": "pool", "UserPoolClientId": "client",
        "DemoUsers": [{"username": "mod@example.com", "password": "pw", "groups": ["moderator"]}],
        "StreamConsumers": [{"function": "StreamFunction", "stream": "arn:s"}], "StateDir": str(tmp_path),
    }
    text = banner(outputs, tmp_path / "outputs.json")
    for needle in ("http://127.0.0.1:4000/graphql", "ws://127.0.0.1:4000/graphql/realtime",
                   "https://127.0.0.1:4443/graphql", "wss://127.0.0.1:4443/graphql/realtime",
                   "mod@example.com (moderator)", "password: pw", "StreamFunction <- arn:s", "GraphiQL",
                   "http://127.0.0.1:4000/_emulator/mails"):
        assert needle in text, needle
    assert text.splitlines()[0].startswith(dev.READY_LINE)


def test_a_stream_consumer_that_cannot_load_fails_the_start_clearly(
    tmp_path: Path, restored_environment: None
) -> None:
    template = template_with_consumer()
    fn = template.document["Resources"]["FakeStreamFunction"]["Properties"]  # type: ignore[index]
    fn["Handler"] = "fake_stream_handler.no_such_function"
    with pytest.raises(dev.LocalStackError, match=r"cannot load handler .*no_such_function"):
        dev.start(tmp_path / "state", template=template, seed=False)
    # everything it had started was stopped: the state dir is free for the next stack
    with state_lock(tmp_path / "state"):
        pass


def test_the_stack_reports_a_dead_stream_consumers_process(
    tmp_path: Path, restored_environment: None
) -> None:
    import threading

    with dev.start(tmp_path / "state", template=template_with_consumer(), seed=False) as stack:
        [consumer] = [c for c in stack.consumers if c.function == "FakeStreamFunction"]
        assert consumer.alive()
        consumer.process.kill()
        reason = stack.wait(threading.Event(), check_interval=0.05)
    assert reason is not None and "stream consumers" in reason and "FakeStreamFunction" in reason


def test_max_concurrency_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert dev.main(["--max-concurrency", "0"]) == 2
    assert "--max-concurrency must be at least 1" in capsys.readouterr().err


def test_parameters_are_name_value_pairs() -> None:
    args = dev._parser().parse_args(["--parameter", "MaxGroupMembers=3000", "--parameter", "A=b=c"])
    assert dict(args.parameter) == {"MaxGroupMembers": "3000", "A": "b=c"}
    with pytest.raises(SystemExit):
        dev._parser().parse_args(["--parameter", "MaxGroupMembers"])


def test_a_parameter_sets_the_template_value_and_an_unknown_one_is_refused() -> None:
    from cloudchat_local._stack import apply_parameters

    template = load_template()
    apply_parameters(template, {"MaxGroupMembers": "3000"})
    assert template.document["Parameters"]["MaxGroupMembers"]["Default"] == "3000"
    with pytest.raises(ValueError, match="NoSuchThing"):
        apply_parameters(load_template(), {"NoSuchThing": "1"})
