"""The in-process world one group size is measured in: moto (``mock_aws``, with the local
stack's seam: serialized DynamoDB and its speed-ups), the table built from template.yaml, a
KMS key, the notifications topic, and a loopback AppSync stand-in for the consumer's real
publisher; users and GROUP conversations set up through the store and the service."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from bench.harness import REPO, Child, LambdaContext, read_ready_line, spawn

TABLE = "cloudchat-bench-scale"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example01"
#: The functions' environment as template.yaml sets it (KMS key, topic and AppSync URL are
#: added once they exist). Fake credentials always: nothing here may reach AWS. Rate limits
#: are raised (one creator sets up many conversations); the data key lives for the run.
ENV = {
    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_LAMBDA_FUNCTION_NAME": "cloudchat-bench-scale",
    "POWERTOOLS_SERVICE_NAME": "cloudchat", "POWERTOOLS_METRICS_NAMESPACE": "CloudChat",
    "TABLE_NAME": TABLE, "TOKEN_SECRET": "bench-scale-token-secret-0123456789abcdef",
    "DATA_KEY_MAX_AGE_SECONDS": "3600", "SEND_RATE_PER_MINUTE": "100000",
    "WRITE_RATE_PER_MINUTE": "100000",
    # botocore >= 1.37 sends DynamoDB (Streams) calls to account-based endpoints, which moto's
    # in-process mock does not route (as tests/conftest.py says)
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}



def user_ids(n: int) -> list[str]:
    """``n`` Cognito-style subs, the same for every run."""
    return [str(uuid.UUID(int=0x5CA1E << 96 | i, version=4)) for i in range(n)]


class AppSyncStub:
    """``bench.scale._appsync_stub`` in a child process; ``counts()`` asks it what it got."""

    def __init__(self, child: Child, port: int) -> None:
        self.child, self.url = child, f"http://127.0.0.1:{port}/graphql"

    def counts(self) -> dict[str, int]:
        with urlopen(self.url, timeout=10) as resp:
            return {k: int(v) for k, v in json.loads(resp.read()).items()}


@contextmanager
def appsync_stub(log_dir: Path) -> Iterator[AppSyncStub]:
    child = spawn("appsync-stub", [sys.executable, "-m", "bench.scale._appsync_stub"],
                  log_dir / "appsync-stub.log")
    try:
        yield AppSyncStub(child, int(read_ready_line(child, 30)["port"]))
    finally:
        if child.process.stdin is not None:
            child.process.stdin.close()
        child.stop()


@dataclass
class World:
    """One fresh table (and key, topic) under moto, with the service of this process."""

    stream_client: Any
    stream_arn: str
    iterator: str = ""
    index_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    table_keys: tuple[str, ...] = ()

    def skip_stream(self) -> None:
        """Reads from now on (what setup wrote is not the benchmark's)."""
        shard = self.stream_client.describe_stream(
            StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.stream_client.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard["ShardId"],
            ShardIteratorType="LATEST")["ShardIterator"]

    def records(self) -> list[dict[str, Any]]:
        """The stream's new records as Lambda's event carries them (JSON)."""
        out: list[dict[str, Any]] = []
        while True:
            resp = self.stream_client.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = resp["NextShardIterator"]
            if not resp["Records"]:
                return out
            for r in resp["Records"]:
                ddb = json.loads(json.dumps(r["dynamodb"], default=_jsonable))
                out.append({**r, "dynamodb": ddb, "eventSourceARN": self.stream_arn})


def _jsonable(value: Any) -> Any:
    import base64
    from datetime import datetime

    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value))


@contextmanager
def world(appsync_url: str, max_members: int) -> Iterator[World]:
    """A fresh moto world and this process's service configured for it."""
    import boto3
    from moto import mock_aws

    from cloudchat import api
    from cloudchat_local.template import load_template

    os.environ.update(ENV, MAX_GROUP_MEMBERS=str(max_members), APPSYNC_URL=appsync_url)
    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        kwargs = load_template().table_create_kwargs(TABLE)
        ddb = boto3.client("dynamodb")
        ddb.create_table(**kwargs)
        arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        key = boto3.client("kms").create_key(Description="bench.scale")["KeyMetadata"]["Arn"]
        topic = boto3.client("sns").create_topic(Name="cloudchat-bench-scale")["TopicArn"]
        os.environ.update(KMS_KEY_ID=key, NOTIFICATIONS_TOPIC_ARN=topic)
        api.reset()
        w = World(stream_client=boto3.client("dynamodbstreams"), stream_arn=arn)
        w.table_keys = tuple(k["AttributeName"] for k in kwargs["KeySchema"])
        w.index_keys = {i["IndexName"]: tuple(k["AttributeName"] for k in i["KeySchema"])
                        for i in kwargs.get("GlobalSecondaryIndexes", [])}
        try:
            yield w
        finally:
            api.reset()


def put_profiles(users: list[str], created_at: str) -> None:
    """Each user's profile, through the store (as the users resolver writes it)."""
    from cloudchat import api
    from cloudchat.models import User

    store = api.service().store
    for i, uid in enumerate(users):
        store.put_profile_if_absent(User(id=uid, display_name=f"Member {i}",
                                         created_at=created_at, username=uid))


def create_group(creator: str, others: list[str], title: str) -> str:
    """A GROUP conversation created through the service, as createConversation does (its
    member chunks, then the conversation item with the member counts)."""
    from cloudchat import api
    from cloudchat.models import Caller

    view = api.service().create_conversation(Caller(user_id=creator, username=creator),
                                             others, title)
    large_setup(view.conversation.id)
    return view.conversation.id


def large_setup(cid: str) -> None:
    """What the stream consumer does on a new conversation's member records (the setup's
    records are skipped, not measured): over ``LargeGroupThreshold`` members, every member's
    large-membership marker, then the conversation's flag (cloudchat.fanout_large)."""
    from cloudchat import api
    from cloudchat.fanout import Fanout

    service = api.service()
    first, _ = service.store.members_upto(cid, 1)
    Fanout(service, lambda: None).large.member_added(first[0])


def event(name: str, who: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """An AppSync direct-resolver event from events/<name>.json, for ``who``."""
    e: dict[str, Any] = json.loads((REPO / "events" / f"{name}.json").read_text())
    claims = {**e["identity"]["claims"], "sub": who, "username": who}
    e["identity"] = {**e["identity"], "sub": who, "username": who, "claims": claims}
    e["arguments"] = arguments
    return e


def invoke(handler: Callable[[dict[str, Any], Any], Any], e: dict[str, Any]) -> Any:
    """The handler's answer; raises if it is an error."""
    out = handler(e, LambdaContext())
    if isinstance(out, dict) and isinstance(out.get("error"), dict):
        raise RuntimeError(f"{e['info']['fieldName']} answered {out['error']}")
    return out
