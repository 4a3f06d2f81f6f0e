"""cloudchat_local.moto, the seam: entry points guarded by the pinned moto version, patches
recorded so that a block can run on moto as released, and the patches with no comparison
elsewhere compared with unpatched moto (same calls, with and without the patch)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cloudchat_local import moto as seam
from cloudchat_local.moto import _patching

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"

ENTRY_POINTS: dict[str, Callable[[], Any]] = {
    "serialize_dynamodb": seam.serialize_dynamodb,
    "server_speedups": seam.server_speedups,
    "gsi_lag": lambda: seam.gsi_lag(1.0),
    "bound_shard_iterators": seam.bound_shard_iterators,
    "trim_stream_records": lambda: seam.trim_stream_records(dt.timedelta(hours=24)),
    "collect_backends": seam.collect_backends,
    "restorable_backends": lambda: seam.restorable_backends({}),
    "keep_alive_handler": seam.keep_alive_handler,
}


# ------------------------------------------------------------------------------- version guard


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_entry_point_refuses_another_moto_version(name: str, monkeypatch: Any) -> None:
    import moto

    monkeypatch.setattr(moto, "__version__", "9.9.9")
    before = seam.applied()
    with pytest.raises(seam.MotoVersionError) as raised:
        ENTRY_POINTS[name]()
    message = str(raised.value)
    assert "moto 9.9.9 is installed" in message and f"moto {seam.MOTO_VERSION}'s" in message
    assert (raised.value.installed, raised.value.expected) == ("9.9.9", seam.MOTO_VERSION)
    assert seam.applied() == before  # nothing patched


def test_the_pinned_version_is_the_installed_and_the_declared_one() -> None:
    seam.require_pinned()  # no error
    assert seam.installed_version() == seam.MOTO_VERSION
    assert f"moto[server,cognitoidp]=={seam.MOTO_VERSION}" in (REPO / "requirements-dev.txt").read_text()
    assert f'"moto[server,cognitoidp]=={seam.MOTO_VERSION}"' in (REPO / "pyproject.toml").read_text()


@pytest.mark.parametrize(("value", "enabled"), [
    (None, True), ("on", True), ("1", True), ("off", False), ("OFF", False), ("0", False),
    ("false", False), ("no", False),
])
def test_the_switch(value: str | None, enabled: bool, monkeypatch: Any) -> None:
    if value is None:
        monkeypatch.delenv(seam.ENV_SWITCH, raising=False)
    else:
        monkeypatch.setenv(seam.ENV_SWITCH, value)
    assert seam.patches_enabled() is enabled


def test_the_moto_package_is_the_only_module_that_patches_moto() -> None:
    """Outside local/cloudchat_local/moto/, nothing in the stack replaces moto attributes."""
    offenders = []
    for path in (REPO / "local" / "cloudchat_local").rglob("*.py"):
        if "moto" in path.relative_to(REPO / "local" / "cloudchat_local").parts[:1]:
            continue
        text = path.read_text()
        if "_cloudchat_" in text or "DynamoDBBackend." in text or "from moto.dynamodb" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


# ------------------------------------------------------------------------------- unpatched()


def test_unpatched_puts_back_every_replaced_attribute_then_reapplies() -> None:
    seam.serialize_dynamodb()
    seam.server_speedups()
    seam.bound_shard_iterators()
    records = list(_patching._applied)
    assert len(records) > 20
    first: dict[tuple[int, str], Any] = {}
    last: dict[tuple[int, str], Any] = {}
    for r in records:  # an attribute replaced twice (wrapped, then locked) goes back to moto's
        first.setdefault((id(r.owner), r.name), r)
        last[(id(r.owner), r.name)] = r
    with seam.unpatched():
        for r in first.values():
            assert vars(r.owner).get(r.name, _patching._MISSING) is r.before, r
    for r in last.values():
        assert vars(r.owner)[r.name] is r.after, r
    from moto.dynamodb.models import DynamoDBBackend

    with seam.unpatched():
        assert not hasattr(DynamoDBBackend.get_item, "__wrapped__")  # moto's own method
    assert hasattr(DynamoDBBackend.get_item, "__wrapped__")  # under the lock again


# ------------------------------------------------------------------------------- comparisons


def _table(ddb: Any, name: str = "t", stream: bool = False) -> None:
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        **({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}
           if stream else {}),
    )


def _replace_a_large_attribute() -> list[Any]:
    """A put of ~250 KB, then updates replacing that attribute with ~250 KB, and one that
    would make the item ~500 KB (refused by DynamoDB too)."""
    out: list[Any] = []
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _table(ddb)
        ddb.put_item(TableName="t", Item={"PK": {"S": "k"}, "a": {"S": "x" * 250_000}})
        for expression, value in (("SET a = :v", "y" * 250_000), ("SET b = :v", "z" * 250_000),
                                  ("SET a = :v", "w" * 1_000)):
            try:
                ddb.update_item(TableName="t", Key={"PK": {"S": "k"}}, UpdateExpression=expression,
                                ExpressionAttributeValues={":v": {"S": value}})
                out.append("ok")
            except ClientError as exc:
                out.append(exc.response["Error"]["Message"])
        item = ddb.get_item(TableName="t", Key={"PK": {"S": "k"}})["Item"]
        out.append({k: v["S"][:1] + str(len(v["S"])) for k, v in item.items()})
    return out


def test_an_update_is_sized_as_it_leaves_the_item_unlike_unpatched_moto() -> None:
    seam.serialize_dynamodb()  # applies item_size_counts_the_result
    patched = _replace_a_large_attribute()
    with seam.unpatched():
        moto = _replace_a_large_attribute()
    # the difference the patch exists for: replacing 250 KB by 250 KB is allowed
    assert patched[0] == "ok"
    assert "Item size" in moto[0] or "size" in moto[0].lower()
    # where they must agree they do: an item past the limit is refused by both
    assert patched[1] == moto[1] and patched[1] != "ok"
    assert patched[2] == moto[2] == "ok"
    assert patched[3] == {"PK": "k1", "a": "w1000"} == moto[3]


def _interleaved_failed_transaction(monkeypatch: Any) -> list[str]:
    """Transaction A puts a1 and then fails a condition on a2; while A runs, another caller's
    write (b) lands in the same table (what a concurrent request does to a threaded server).
    Returns the keys in the table afterwards."""
    from moto.dynamodb.models.table import Table

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        _table(ddb)
        ddb.put_item(TableName="t", Item={"PK": {"S": "a2"}})
        put_item = Table.put_item

        def put_and_interleave(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            result = put_item(self, item_attrs, *args, **kwargs)
            if item_attrs.get("PK") == {"S": "a1"}:
                put_item(self, {"PK": {"S": "b"}})  # the other caller's committed write
            return result

        with monkeypatch.context() as m:
            m.setattr(Table, "put_item", put_and_interleave)
            with pytest.raises(ClientError, match="TransactionCanceledException"):
                ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"PK": {"S": "a1"}}}},
                    {"Put": {"TableName": "t", "Item": {"PK": {"S": "a2"}},
                             "ConditionExpression": "attribute_not_exists(PK)"}},
                ])
        return sorted(i["PK"]["S"] for i in ddb.scan(TableName="t")["Items"])


def test_a_failed_transaction_rolls_back_its_items_not_the_table(monkeypatch: Any) -> None:
    seam.serialize_dynamodb()
    patched = _interleaved_failed_transaction(monkeypatch)
    with seam.unpatched():
        moto = _interleaved_failed_transaction(monkeypatch)
    # both undo the transaction's own write (a1) ...
    assert "a1" not in patched and "a1" not in moto
    # ... but moto restores a copy of the whole table, erasing the other caller's commit
    assert patched == ["a2", "b"]
    assert moto == ["a2"]


def _streamed_table() -> tuple[Any, Any, str]:
    """Inside mock_aws: table "t" with a stream, its clients, and an iterator at its start."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    _table(ddb, stream=True)
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return ddb, streams, iterator


def _keys_read_across_a_cancelled_transaction() -> list[str]:
    """One stream reader, a write, a cancelled transaction, another write: the keys it reads."""
    with mock_aws():
        ddb, streams, iterator = _streamed_table()
        ddb.put_item(TableName="t", Item={"PK": {"S": "before"}})
        with pytest.raises(ClientError):
            ddb.transact_write_items(TransactItems=[{"Put": {
                "TableName": "t", "Item": {"PK": {"S": "before"}},
                "ConditionExpression": "attribute_not_exists(PK)"}}])
        ddb.put_item(TableName="t", Item={"PK": {"S": "after"}})
        keys: list[str] = []
        while True:
            out = streams.get_records(ShardIterator=iterator)
            if not out["Records"]:
                return keys
            keys += [r["dynamodb"]["Keys"]["PK"]["S"] for r in out["Records"]]
            iterator = out["NextShardIterator"]


def test_a_stream_reader_keeps_reading_after_a_cancelled_transaction_unlike_unpatched_moto() -> None:
    """On DynamoDB a cancelled transaction changes nothing; moto as released puts back a copy of
    the table, and the reader's shard is no longer the table's: it never sees "after"."""
    seam.serialize_dynamodb()
    patched = _keys_read_across_a_cancelled_transaction()
    with seam.unpatched():
        moto = _keys_read_across_a_cancelled_transaction()
    assert patched == ["before", "after"]
    assert moto == ["before"]


def _poll_stream(times: int) -> tuple[list[Any], int]:
    """GetRecords ``times`` times along one shard; returns the records and the iterators moto
    keeps."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    with mock_aws():
        ddb, streams, iterator = _streamed_table()
        records: list[Any] = []
        for i in range(times):
            ddb.put_item(TableName="t", Item={"PK": {"S": f"k{i}"}})
            out = streams.get_records(ShardIterator=iterator)
            records += [(r["eventName"], r["dynamodb"]["Keys"]) for r in out["Records"]]
            iterator = out["NextShardIterator"]
        kept = len(dynamodbstreams_backends["123456789012"][REGION].shard_iterators)
    return records, kept


def test_shard_iterators_are_bounded_and_records_unchanged() -> None:
    seam.bound_shard_iterators(limit=3)
    try:
        patched, patched_kept = _poll_stream(12)
        with seam.unpatched():
            moto, moto_kept = _poll_stream(12)
    finally:
        seam.bound_shard_iterators()  # back to the server's limit
    assert patched == moto and len(moto) == 12
    assert moto_kept >= 12  # moto keeps every iterator it handed out
    assert patched_kept <= 3


def test_bound_shard_iterators_takes_a_new_limit() -> None:
    from cloudchat_local.moto import _streams

    seam.bound_shard_iterators(limit=3)
    seam.bound_shard_iterators()
    assert _streams._limit() == _streams.MAX_SHARD_ITERATORS


def test_the_routing_table_is_read_once_with_moto_answers(monkeypatch: Any) -> None:
    import moto.backends as backends

    seam.server_speedups()
    cached = backends.list_of_moto_modules()
    with seam.unpatched():
        listed = list(backends.list_of_moto_modules())
    assert list(cached) == listed and len(listed) > 100

    def no_listing(*_: Any) -> Any:
        raise AssertionError("moto's package directory was listed again")

    monkeypatch.setattr(os, "listdir", no_listing)
    assert list(backends.list_of_moto_modules()) == listed
