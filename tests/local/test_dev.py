"""cloudchat_local.dev: the programmatic LocalStack (in this process) and its helpers.

The CLI is driven end to end as a subprocess in tests/e2e; here the same LocalStack runs
in-process, with a throwaway stream consumer added to a copy of template.yaml."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudchat_local import dev
from cloudchat_local._outputs import banner, template_outputs
from cloudchat_local.template import load_template

from . import fake_stream_handler as fake
from .test_streams import template_with_consumer


@pytest.fixture
def restored_environment() -> Iterator[None]:
    """LocalStack points this process's environment at its moto: put it back afterwards."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        api = sys.modules.get("cloudchat.api")
        if api is not None:
            api.reset()


def test_local_stack_in_process_runs_the_template_and_its_stream_consumers(
    tmp_path: Path, restored_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.reset()
    log = tmp_path / "consumer.jsonl"
    monkeypatch.setenv("FAKE_STREAM_LOG", str(log))
    template = template_with_consumer(StartingPosition="TRIM_HORIZON", BatchSize=100)
    with dev.start(tmp_path / "state", template=template) as stack:
        assert stack.graphql_url.startswith("http://127.0.0.1:")
        assert stack.realtime_url.startswith("ws://127.0.0.1:")
        assert stack.https_graphql_url is None  # no TLS unless asked
        assert {u.name for u in stack.demo_users} == {"alice", "bob", "carol", "mod"}
        assert os.environ["AWS_ENDPOINT_URL"] == stack.moto_endpoint
        assert os.environ["TABLE_NAME"] == stack.provisioned.table_name  # type: ignore[union-attr]
        assert os.environ["POWERTOOLS_TRACE_DISABLED"] == "true"
        outputs = stack.outputs
        assert outputs["GraphQLApiUrl"] == stack.graphql_url
        assert outputs["DemoConversationId"]
        assert {"function": "FakeStreamFunction", "stream": stack.provisioned.table_stream_arn} in (  # type: ignore[union-attr]
            outputs["StreamConsumers"]
        )
        assert (tmp_path / "outputs.json").is_file()

        # The demo conversation was written through the real resolvers; its messages reach
        # the consumer as stream records (and so does everything else written to the table),
        # in the stream consumers' own process, as on Lambda.
        conv = f"CONV#{outputs['DemoConversationId']}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and sum(
                k == conv for call in fake.logged(str(log)) for k in call["keys"]) < 3:
            time.sleep(0.1)
        calls = fake.logged(str(log))
        assert sum(k == conv for call in calls for k in call["keys"]) >= 3
        assert calls[0]["eventSourceARN"] == stack.provisioned.table_stream_arn  # type: ignore[union-attr]
        assert calls[0]["function_name"] == "cloudchat-local-FakeStreamFunction"
        assert {call["pid"] for call in calls} == {stack.consumers.process.pid}  # type: ignore[union-attr]
        assert stack.consumers.process.pid != os.getpid()  # type: ignore[union-attr]
        assert fake.CALLS == []  # nothing ran in this process
        consumers = stack.consumers
    assert not stack.moto.alive()  # type: ignore[union-attr]
    assert consumers is not None and not consumers.alive()
    assert (tmp_path / "state" / dev.MOTO_STATE_FILE).is_file()
    assert (tmp_path / "state" / dev.STREAM_CHECKPOINTS_FILE).is_file()


def test_a_second_stack_cannot_share_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with dev._state_lock(state), pytest.raises(dev.StateDirBusy, match="another local stack"):
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


def test_function_environments_are_merged_with_the_local_aws_settings() -> None:
    template = load_template()

    class Fake:
        def aws_environment(self) -> dict[str, str]:
            return {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_REGION": "us-east-1"}

    class Anything(dict[str, str]):
        """Resolves every reference (the template grows; this test is about merging)."""

        def __contains__(self, key: object) -> bool:
            return True

        def __missing__(self, key: str) -> str:
            return f"<{key}>"

    resolve = Anything(dev.graphql_api_resolve(template, "http://127.0.0.1:4000/graphql"))
    resolve["Table"] = "t"
    env = dev._function_environment(template, Fake(), resolve)  # type: ignore[arg-type]
    assert env["TABLE_NAME"] == "t"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert env["POWERTOOLS_TRACE_DISABLED"] == env["POWERTOOLS_METRICS_DISABLED"] == "true"
    assert "127.0.0.1" in env["NO_PROXY"]


def test_auth_settings_follow_the_template() -> None:
    types, client_regex = dev._auth_settings(load_template())
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
                   "mod@example.com (moderator)", "password: pw", "StreamFunction <- arn:s", "GraphiQL"):
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
    with dev._state_lock(tmp_path / "state"):
        pass


def test_the_stack_reports_a_dead_stream_consumers_process(
    tmp_path: Path, restored_environment: None
) -> None:
    import threading

    with dev.start(tmp_path / "state", template=template_with_consumer(), seed=False) as stack:
        assert stack.consumers is not None and stack.consumers.alive()
        stack.consumers.process.kill()
        reason = stack.wait(threading.Event(), check_interval=0.05)
    assert reason is not None and "stream consumers" in reason
