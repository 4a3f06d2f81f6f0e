"""bench.scale: DynamoDB's capacity rules as the benchmark applies them, a run at small sizes
(the JSON's shape, sane counts: sendMessage is one DynamoDB request, the consumer's work
grows with the members), today's failures reported as data, and the summary and chart."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.scale import _run, _units
from bench.scale._chart import svg
from bench.scale._summary import summary
from bench.scale._world import appsync_stub

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- capacity rules
def test_item_size_follows_dynamodbs_rules() -> None:
    # names count; strings are UTF-8 bytes; a number is 1 byte per 2 significant digits + 1;
    # a map or list is 3 bytes plus 1 per element; booleans and nulls 1 byte
    assert _units.item_size({"PK": {"S": "CONV#é"}}) == 2 + 7
    assert _units.item_size({"n": {"N": "12345"}}) == 1 + 3 + 1
    assert _units.item_size({"n": {"N": "-0.0100"}}) == 1 + 1 + 1
    assert _units.item_size({"m": {"M": {"ab": {"S": "xyz"}, "c": {"BOOL": True}}}}) == (
        1 + 3 + (1 + 2 + 3) + (1 + 1 + 1))
    assert _units.item_size({"l": {"L": [{"NULL": True}, {"S": ""}]}}) == 1 + 3 + 2 + 1
    assert _units.item_size({"s": {"SS": ["a", "bc"]}, "b": {"B": b"\x00\x01"}}) == 1 + 3 + 1 + 2
    assert _units.item_size(None) == 0


def _item(size: int, **extra: str) -> dict[str, Any]:
    """An item of exactly ``size`` bytes (with ``extra`` string attributes in it)."""
    item: dict[str, Any] = {k: {"S": v} for k, v in extra.items()}
    pad = size - _units.item_size(item) - 1
    item["p"] = {"S": "x" * pad}
    assert _units.item_size(item) == size
    return item


def test_write_units_are_per_started_kb_of_the_larger_image_doubled_in_transactions() -> None:
    small, large = _item(1024), _item(1025)
    assert _units.write_units(None, small, transactional=False) == 1
    assert _units.write_units(small, large, transactional=False) == 2
    assert _units.write_units(large, small, transactional=False) == 2  # (the larger of the two)
    assert _units.write_units(large, None, transactional=True) == 4
    assert _units.write_units(None, None, transactional=False) == 1  # a failed condition on nothing
    assert _units.check_units(_item(4097)) == 4  # a transactional read: 2 per started 4 KB


def test_index_writes_count_entering_leaving_changing_and_moving() -> None:
    keys = ("GSI1PK", "GSI1SK")
    a = _item(900, GSI1PK="USER#u", GSI1SK="2026-01-01#c")
    moved = _item(1500, GSI1PK="USER#u", GSI1SK="2026-01-02#c")
    changed = _item(950, GSI1PK="USER#u", GSI1SK="2026-01-01#c")
    outside = _item(300)
    assert _units.index_write_units(outside, outside, keys) == 0
    assert _units.index_write_units(None, a, keys) == 1
    assert _units.index_write_units(a, None, keys) == 1
    assert _units.index_write_units(a, moved, keys) == 1 + 2  # delete the old entry, put the new
    assert _units.index_write_units(a, changed, keys) == 1
    assert _units.index_write_units(a, a, keys) == 0  # nothing changed (a failed condition)


def test_read_units_round_per_item_or_per_query_and_halve_eventual_reads() -> None:
    assert _units.read_units([100, 100, 5000], consistent=True, summed=False) == 1 + 1 + 2
    assert _units.read_units([100, 100, 5000], consistent=True, summed=True) == 2
    assert _units.read_units([100, 100, 5000], consistent=False, summed=True) == 1
    assert _units.read_units([], consistent=False, summed=True) == 0.5  # an empty query


# --------------------------------------------------------------------------- a small run
@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("scale")
    done = subprocess.run([sys.executable, "-m", "bench.scale", "--sizes", "2,10",
                           "--conversations", "3", "--repeat", "2", "--output",
                           str(out / "scale.json"), "--chart", str(out / "scale.svg")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)  # stdout is the document alone
    assert json.loads((out / "scale.json").read_text()) == doc
    assert (out / "scale.svg").read_text().startswith("<svg ")
    return doc


def test_the_document_has_every_size_and_the_machine(document: dict[str, Any]) -> None:
    assert document["benchmark"] == "scale"
    assert document["machine"]["cpu_count"] and document["machine"]["load_average_at_end"]
    assert [s["members"] for s in document["sizes"]] == [2, 10]
    for s in document["sizes"]:
        assert "error" not in s
        for case in ("message_in_window", "message_new_window"):
            for part in ("send", "consumer"):
                figures = s[case][part]
                for key in ("dynamodb_requests", "write_units", "index_write_units",
                            "read_units", "sns_publishes", "cpu_ms", "moto_cpu_ms"):
                    assert key in figures, (case, part, key)
                assert figures["cpu_ms"] > 0 and figures["moto_cpu_ms"] > 0


def test_send_message_is_one_dynamodb_request_warm_at_every_size(document: dict[str, Any]) -> None:
    for s in document["sizes"]:
        for case in ("message_in_window", "message_new_window"):
            send = s[case]["send"]
            assert send["requests"] == {"dynamodb.TransactWriteItems": 1}
            assert send["kms_requests"] == 0
            assert send["write_units"] >= 2 * 3  # message, conversation, guard at least, x2


def test_the_consumers_work_grows_with_the_members_today(document: dict[str, Any]) -> None:
    small, large = document["sizes"]
    for s in (small, large):
        n = s["members"]
        inside, new = s["message_in_window"]["consumer"], s["message_new_window"]["consumer"]
        # every member's list position moves, every member gets a user event
        assert inside["requests"]["dynamodb.UpdateItem"] == n - 1
        assert inside["appsync_requests"] == inside["user_events"] == n
        assert inside["sns_publishes"] == 0  # everyone was notified a moment ago
        assert new["sns_publishes"] == n - 1  # nobody is online: all but the sender
        assert new["stream_records_out"] == 2 * (n - 1)  # the consumer's own writes
        assert inside["index_write_units"]["GSI1"] == 2 * (n - 1)  # each list entry moves
    for case in ("message_in_window", "message_new_window"):
        assert (large[case]["consumer"]["dynamodb_requests"]
                > small[case]["consumer"]["dynamodb_requests"])
        assert large[case]["consumer"]["write_units"] > small[case]["consumer"]["write_units"]


def test_list_operations_page_the_members_and_the_item_does_not_grow(
        document: dict[str, Any]) -> None:
    small, large = document["sizes"]
    for s in (small, large):
        # (the caller's large-conversation markers, then the GSI1 page: two Queries)
        assert s["conversation_list"]["requests"] == {"dynamodb.Query": 2, "dynamodb.BatchGetItem": 1}
        assert s["conversation_list"]["items"] == 3
        assert s["member_list"]["requests"] == {"dynamodb.BatchGetItem": 1, "dynamodb.Query": 1}
        assert s["member_list"]["members"] == s["members"] and not s["member_list"]["more"]
        assert s["conversation_read"]["requests"] == {"dynamodb.BatchGetItem": 1}
    assert large["conversation_item_bytes"] == small["conversation_item_bytes"]


def test_cost_per_message_compares_with_10_members(document: dict[str, Any]) -> None:
    for case in ("message_in_window", "message_new_window"):
        two, ten = document["cost_per_message"][case]
        assert ten["ratio_to_10_members"] == {"write_units": 1.0, "appsync_requests": 1.0,
                                              "consumer_cpu_ms": 1.0}
        assert two["appsync_requests"] == 2 and ten["appsync_requests"] == 10
        assert two["ratio_to_10_members"]["appsync_requests"] == 0.2
        assert document["target_check"][case]["met"] is None  # 10,000 was not asked for


# --------------------------------------------------------------------------- failures as data
@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import os

    monkeypatch.setattr(os, "environ", dict(os.environ))  # the world's settings stay here
    from bench.scale._world import ENV

    os.environ.update(ENV)
    with appsync_stub(tmp_path) as s:
        yield s


def test_a_conversation_that_cannot_be_created_is_reported(stub: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> str:
        raise RuntimeError("Item size has exceeded the maximum allowed size")

    monkeypatch.setattr(_run, "create_group", refuse)
    out = _run.measure(3, 2, stub, 1)
    assert out["error"].startswith("createConversation with 3 members failed (0 of 2 created): "
                                   "RuntimeError: Item size has exceeded")
    assert "message_in_window" not in out


def test_a_conversation_item_over_400_kb_is_reported_even_if_moto_stores_it(
        stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_units, "ITEM_LIMIT", 300)  # (a 3-member group's item is larger)
    out = _run.measure(3, 1, stub, 1)
    assert out["conversation_item_bytes"] > 300
    assert out["error"].startswith("the conversation item: ValueError: the conversation item is ")
    assert "over DynamoDB's 400 KB item limit" in out["error"]
    assert "message_in_window" not in out and "phase" not in out


def test_a_message_that_fails_is_reported_with_what_was_measured(
        stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any) -> dict[str, Any]:
        raise RuntimeError("sendMessage answered {'type': 'BadRequest'}")

    monkeypatch.setattr(_run._Sender, "message", refuse)
    out = _run.measure(3, 1, stub, 1)
    assert out["error"] == "a message: RuntimeError: sendMessage answered {'type': 'BadRequest'}"
    assert out["member_list"]["members"] == 3 and "phase" not in out


def _row(n: int, write: int, appsync: int, cpu: float) -> dict[str, Any]:
    part = {"write_units_with_indexes": 0, "dynamodb_requests": 1, "sns_publishes": 0}
    message = {"send": {**part, "write_units_with_indexes": write // 2},
               "consumer": {**part, "write_units_with_indexes": write - write // 2,
                            "appsync_requests": appsync, "cpu_ms": cpu}}
    return {"members": n, "message_in_window": message, "message_new_window": message}


def test_the_target_check_fails_when_10000_members_fail_and_passes_when_flat() -> None:
    failing = [_row(10, 40, 10, 20.0), _row(1000, 4000, 1000, 2000.0),
               {"members": 10_000, "error": "the conversation item is 433000 bytes"}]
    check = summary(failing)["target_check"]["message_new_window"]
    assert check["met"] is False and "433000" in check["why"]
    assert check["largest_measured"] == 1000
    assert check["ratio_at_largest_measured"] == {"write_units": 100.0, "appsync_requests": 100.0,
                                                  "consumer_cpu_ms": 100.0}
    flat = summary([_row(10, 40, 10, 20.0), _row(10_000, 80, 20, 40.1)])
    assert flat["target_check"]["message_in_window"]["met"] is False  # 40.1 ms > 2x 20 ms
    flat = summary([_row(10, 40, 10, 20.0), _row(10_000, 80, 20, 40.0)])
    assert flat["target_check"]["message_in_window"]["met"] is True
    chart = svg({"sizes": failing, **summary(failing)})
    assert "fails today:" in chart and "10,000 members" in chart


def test_the_conversation_item_no_longer_limits_the_members(document: dict[str, Any]) -> None:
    fit = document["members_that_fit_today"]
    assert fit == {"bytes_per_member": 0.0, "members": None}  # members live in their own items
    assert summary([{"members": 10, "conversation_item_bytes": 1000},  # (a growing item)
                    {"members": 20, "conversation_item_bytes": 1430}])["members_that_fit_today"] \
        == {"bytes_per_member": 43.0, "members": 20 + (400 * 1024 - 1430) // 43}


# --------------------------------------------------------------------------- the meter
@pytest.fixture
def metered(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """A table with one GSI under moto, a client metered, and the meter."""
    import boto3
    from moto import mock_aws

    from bench.scale._meter import Meter

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName="tbl", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                                  for n in ("PK", "SK", "G1", "G1S")],
            GlobalSecondaryIndexes=[{"IndexName": "GSI", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "G1", "KeyType": "HASH"},
                                                   {"AttributeName": "G1S", "KeyType": "RANGE"}]}])
        client = boto3.client("dynamodb")
        meter = Meter({"dynamodb": client}, boto3.client("dynamodb"), "tbl", ("PK", "SK"),
                      {"GSI": ("G1", "G1S")})
        yield client, meter


def _s(**values: str) -> dict[str, Any]:
    return {k: {"S": v} for k, v in values.items()}


def test_the_meter_counts_write_units_of_each_write_and_its_index(metered: tuple[Any, Any]) -> None:
    from botocore.exceptions import ClientError

    client, meter = metered
    big = _s(PK="a", SK="1", G1="u", G1S="t1", pad="x" * 1500)  # 2 KB started
    with meter.block() as t:
        client.put_item(TableName="tbl", Item=big)
    assert (t.write_units, t.index_write_units["GSI"], t.requests) == (2, 2, {"dynamodb.PutItem": 1})
    with meter.block() as t:  # the index key moves: delete + put in the index
        client.update_item(TableName="tbl", Key=_s(PK="a", SK="1"),
                           UpdateExpression="SET G1S = :v", ExpressionAttributeValues=_s(**{":v": "t2"}))
    assert (t.write_units, t.index_write_units["GSI"]) == (2, 4)
    with meter.block() as t, pytest.raises(ClientError):  # a failed condition still costs
        client.put_item(TableName="tbl", Item=_s(PK="a", SK="1"), ConditionExpression="attribute_not_exists(PK)")
    assert (t.write_units, t.index_write_units["GSI"]) == (2, 0)
    with meter.block() as t:  # transactional: x2; a condition check is a transactional read
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "tbl", "Item": _s(PK="b", SK="1")}},
            {"ConditionCheck": {"TableName": "tbl", "Key": _s(PK="a", SK="1"),
                                "ConditionExpression": "attribute_exists(PK)"}}])
    assert (t.write_units, t.read_units, t.index_write_units["GSI"]) == (2, 2.0, 0)
    with meter.block() as t:
        client.delete_item(TableName="tbl", Key=_s(PK="a", SK="1"))
    assert (t.write_units, t.index_write_units["GSI"]) == (2, 2)
    assert t.cpu_s > 0 and t.moto_cpu_s > 0 and t.meter_cpu_s > 0


def test_the_meter_counts_read_units_per_item_per_query_and_halves_eventual_reads(
        metered: tuple[Any, Any]) -> None:
    client, meter = metered
    for i in range(3):
        client.put_item(TableName="tbl", Item=_s(PK="q", SK=str(i), G1="u", G1S=str(i), pad="x" * 2000))
    with meter.block() as t:  # three items of ~2 KB: one 4 KB block each
        client.batch_get_item(RequestItems={"tbl": {"ConsistentRead": True, "Keys": [
            _s(PK="q", SK=str(i)) for i in range(3)] + [_s(PK="none", SK="0")]}})
    assert t.read_units == 3 + 1  # (a key not found costs the minimum)
    with meter.block() as t:  # a Query sums: 6 KB is 2 blocks
        client.query(TableName="tbl", KeyConditionExpression="PK = :p", ConsistentRead=True,
                     ExpressionAttributeValues=_s(**{":p": "q"}), ProjectionExpression="SK")
    assert t.read_units == 2 and t.largest_item_read > 2000  # (whole items, not the projection)
    with meter.block() as t:  # a GSI read is eventually consistent: half
        client.query(TableName="tbl", IndexName="GSI", KeyConditionExpression="G1 = :u",
                     ExpressionAttributeValues=_s(**{":u": "u"}))
    assert t.read_units == 1.0


def test_moto_does_not_size_consumed_capacity_so_the_meter_computes_it(
        metered: tuple[Any, Any]) -> None:
    """Why write units are computed: moto answers ReturnConsumedCapacity with a constant. If a
    moto upgrade makes this fail, its figures may be usable: compare them with the meter's."""
    client, meter = metered
    with meter.block() as t:
        answer = client.put_item(TableName="tbl", Item=_s(PK="c", SK="1", pad="x" * 3000),
                                 ReturnConsumedCapacity="TOTAL")
    assert t.write_units == 3
    assert answer["ConsumedCapacity"]["CapacityUnits"] != 3
