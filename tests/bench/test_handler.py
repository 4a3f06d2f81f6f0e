"""bench.handler: it runs (a few iterations), its JSON has every operation's figures, the
handler and its floor made the same AWS calls through clients set up alike, the replayer
answers only what was recorded, and bad arguments are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from bench.handler._replay import Exchange, Replayer, ReplayError, _agent
from bench.handler._scenarios import Operation, shape

REPO = Path(__file__).resolve().parents[2]
#: the request budgets (tests/integration/test_budgets.py), warm
CALLS = {
    "sendMessage": ["dynamodb.TransactWriteItems"],
    "messages": ["dynamodb.BatchGetItem"],
    "markRead": ["dynamodb.TransactWriteItems"],
    "addReaction": ["dynamodb.TransactWriteItems"],
    "editMessage": ["dynamodb.TransactWriteItems"],
    # (the caller's large-conversation markers, the GSI1 page, the items)
    "conversations": ["dynamodb.Query", "dynamodb.Query", "dynamodb.BatchGetItem"],
}
TARGETED = ["sendMessage", "messages", "markRead", "addReaction"]


def _bench(*args: str, output: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--output", str(output)] if output else []
    return subprocess.run([sys.executable, "-m", "bench.handler", *args, *extra], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("handler") / "handler.json"
    done = _bench("--iterations", "5", "--warmup", "2", "--profile", "addReaction",
                  "--profile-iterations", "5", output=output)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)  # stdout is the document alone
    assert json.loads(output.read_text()) == doc
    return doc


def test_every_operation_has_its_figures(document: dict[str, Any]) -> None:
    ops = document["operations"]
    assert list(ops) == list(CALLS)
    for name, op in ops.items():
        for field in ("handler_cpu_ms", "handler_cpu_ms_p90", "floor_cpu_ms", "floor_cpu_ms_p90"):
            assert isinstance(op[field], float) and op[field] > 0, (name, field)
        assert op["handler_cpu_ms_p90"] >= op["handler_cpu_ms"]
        # (the ratio is of the unrounded medians; each median is printed to 0.01 ms)
        exact = op["handler_cpu_ms"] / op["floor_cpu_ms"]
        slack = 0.005 + exact * (0.005 / op["handler_cpu_ms"] + 0.005 / op["floor_cpu_ms"])
        assert op["ratio"] == pytest.approx(exact, abs=slack + 0.001)
        assert op["aws_calls"] == len(CALLS[name])
        assert op["what"]


def test_handler_and_floor_made_the_same_aws_calls(document: dict[str, Any]) -> None:
    for name, op in document["operations"].items():
        assert op["aws_operations"] == CALLS[name], name
        assert op["floor_aws_operations"] == op["aws_operations"], name
        assert op["same_client_settings"] is True, name  # the same User-Agent on every call


def test_targets_command_and_machine(document: dict[str, Any]) -> None:
    ops = document["operations"]
    assert document["target_ratio"] == 1.5
    for name in TARGETED:
        assert ops[name]["meets_target"] is (ops[name]["ratio"] <= 1.5)
    assert "meets_target" not in ops["editMessage"]
    assert document["targets_met"] is all(ops[n]["meets_target"] for n in TARGETED)
    assert document["command"].startswith("python -m bench.handler --iterations 5 ")
    assert (document["iterations"], document["warmup"]) == (5, 2)
    assert document["machine"]["cpu_count"] >= 1 and "commit" in document["machine"]


def test_the_profile_says_where_the_handler_time_goes(document: dict[str, Any]) -> None:
    profile = document["profile"]
    assert (profile["operation"], profile["iterations"]) == ("addReaction", 5)
    assert profile["handler_profiled_ms"] > profile["floor_profiled_ms"] > 0
    excess = profile["top_excess_self"]
    assert excess and all(e["excess_self_ms"] == pytest.approx(
        e["handler_self_ms"] - e["floor_self_ms"], abs=0.002) for e in excess)
    ours = [e["function"] for e in profile["top_cumulative_ours"]]
    assert ours[0].startswith("layers/shared/cloudchat/api.py:")  # the handler, outermost
    assert any(f.startswith("resolvers/messages.py:") for f in ours)


@pytest.mark.parametrize("args", [["--operations", "sendMessage,nope"], ["--iterations", "0"],
                                  ["--profile", "nope"], ["--profile-iterations", "0"]])
def test_bad_arguments_are_refused(args: list[str]) -> None:
    done = _bench(*args)
    assert done.returncode == 2
    assert done.stdout == ""


def _exchange(operation: str, body: bytes = b"{}") -> Exchange:
    return Exchange(service="dynamodb", operation=operation, params={}, status=200,
                    headers={"Content-Type": "application/x-amz-json-1.0"}, body=body)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    # Should the replayer not answer, the request goes to a closed loopback port.
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")


def test_the_replayer_answers_the_recorded_calls_in_order(client: Any) -> None:
    body = b'{"Item": {"PK": {"S": "CONV#1"}}}'
    replayer = Replayer([_exchange("GetItem", body), _exchange("PutItem")])
    replayer.attach(client)
    replayer.start()
    got = client.get_item(TableName="t", Key={"PK": {"S": "CONV#1"}})
    assert got["Item"] == {"PK": {"S": "CONV#1"}}  # botocore parsed the recorded body
    client.put_item(TableName="t", Item={"PK": {"S": "CONV#1"}})
    replayer.done()
    assert replayer.calls == ["dynamodb.GetItem", "dynamodb.PutItem"]
    assert replayer.agents[0] is not None and replayer.agents[0].startswith("Boto3/")
    replayer.detach()


def test_the_replayer_refuses_a_call_it_has_not_recorded(client: Any) -> None:
    replayer = Replayer([_exchange("GetItem")])
    replayer.attach(client)
    replayer.start()
    with pytest.raises(ReplayError, match="PutItem"):
        client.put_item(TableName="t", Item={"PK": {"S": "CONV#1"}})
    replayer.start()
    with pytest.raises(ReplayError, match="recording has"):
        replayer.done()  # the invocation made fewer calls than recorded
    replayer.start()
    client.get_item(TableName="t", Key={"PK": {"S": "CONV#1"}})
    with pytest.raises(ReplayError, match="call 2"):
        client.get_item(TableName="t", Key={"PK": {"S": "CONV#1"}})  # more calls than recorded
    replayer.detach()


def test_user_agents_compare_their_feature_ids_as_a_set() -> None:
    assert _agent(b"Boto3/1 m/Z,E,b cfg/x") == _agent("Boto3/1 m/b,Z,E cfg/x") == "Boto3/1 m/E,Z,b cfg/x"
    assert _agent("Boto3/1 m/Z,E,g") != _agent("Boto3/1 m/Z,E")
    assert _agent(None) is None


def test_a_replayed_answer_must_look_like_the_recorded_one() -> None:
    recorded = {"items": [{"id": 1}, {"id": 2}], "nextToken": None}
    op = Operation("messages", lambda e, c: None, {}, [], shape=shape(recorded))
    op.check({"items": [{"id": 3}, {"id": 4}], "nextToken": "t"})
    with pytest.raises(RuntimeError, match="recorded"):
        op.check({"items": [{"id": 3}], "nextToken": None})  # fewer items
    with pytest.raises(RuntimeError, match="recorded"):
        op.check({"error": {"type": "Forbidden", "message": "no"}})
