"""Support for tests/local/test_iam_*: the real moto server process with IAM enforced, and
the real handlers invoked in-process with one template function's own credentials."""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from cloudchat import api
from cloudchat_local._identity import credentials_for
from cloudchat_local._moto_server import MotoProcess
from cloudchat_local.iam import PolicyMap, enforce
from cloudchat_local.provision import Provisioned, provision
from cloudchat_local.template import Template, load_template
from tests.integration.conftest import LambdaContext, identity, jsonable, load_event

API_URL = "http://127.0.0.1:9/graphql"  # nothing listens: the stream's publisher is replaced


def template_without(template: Template, function: str, sid: str, directory: Path) -> Template:
    """A copy of template.yaml, written to ``directory``, with one statement removed."""
    document = copy.deepcopy(dict(template.document))
    policies = document["Resources"][function]["Properties"]["Policies"]
    removed = 0
    for policy in policies:
        kept = [s for s in policy["Statement"] if s.get("Sid") != sid]
        removed += len(policy["Statement"]) - len(kept)
        policy["Statement"] = kept
    assert removed == 1, f"{function} has no statement {sid!r}"
    path = directory / "template.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_template(path)


class IamStack:
    def __init__(self, moto: MotoProcess, prov: Provisioned, log_path: Path, usage_path: Path) -> None:
        self.moto = moto
        self.prov = prov
        self.log_path = log_path
        self.usage_path = usage_path
        self.template = load_template()
        self.policies: PolicyMap | None = None
        self.overrides = {}

    def enforce(self, template: Template | None = None) -> PolicyMap:
        self.policies = enforce(self.moto.endpoint, template or self.template, self.prov.resolved,
                                usage_path=self.usage_path)
        return self.policies

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @contextlib.contextmanager
    def environment(self, access_key: str, secret: str, extra: dict[str, str]) -> Iterator[None]:
        env = {**extra, **self.prov.aws_environment(), "AWS_ACCESS_KEY_ID": access_key,
               "AWS_SECRET_ACCESS_KEY": secret, "POWERTOOLS_TRACE_DISABLED": "true",
               "POWERTOOLS_METRICS_DISABLED": "true"}
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        # Clients, settings, the data-key cache and boto3's default session (which keeps the
        # credentials it first found) are per function process.
        boto3.DEFAULT_SESSION = None
        api.reset()
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            boto3.DEFAULT_SESSION = None
            api.reset()

    #: Environment overrides by function (a deployment parameter, say), for as_function.
    overrides: dict[str, dict[str, str]]

    def as_function(self, logical_id: str) -> contextlib.AbstractContextManager[None]:
        """This process acts as the function: its template environment, its credentials."""
        key, secret = credentials_for(logical_id)
        env = {**self.prov.function_env[logical_id], **self.overrides.get(logical_id, {})}
        return self.environment(key, secret, env)

    def as_admin(self) -> contextlib.AbstractContextManager[None]:
        env = dict(self.prov.function_env["MessagesFunction"])
        return self.environment(self.prov.access_key_id, self.prov.secret_access_key, env)

    def invoke(self, function: str, module: Any, event_name: str, who: str = "alice",
               args: dict[str, Any] | None = None, *, replace_args: bool = False) -> Any:
        event = copy.deepcopy(load_event(event_name))
        if who:
            event["identity"] = identity(who)
        if args is not None:
            if replace_args:
                event["arguments"] = args
            else:
                for key, value in args.items():
                    if isinstance(value, dict) and isinstance(event["arguments"].get(key), dict):
                        event["arguments"][key].update(value)
                    else:
                        event["arguments"][key] = value
        with self.as_function(function):
            return module.lambda_handler(event, LambdaContext())

    def stream_records(self, iterator: dict[str, str]) -> list[dict[str, Any]]:
        """New stream records, read as the Lambda service reads them (admin credentials)."""
        client = boto3.client("dynamodbstreams", endpoint_url=self.moto.endpoint, region_name=self.prov.region,
                              aws_access_key_id=self.prov.access_key_id,
                              aws_secret_access_key=self.prov.secret_access_key)
        arn = str(self.prov.table_stream_arn)
        if "it" not in iterator:
            shard = client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
            iterator["it"] = client.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")["ShardIterator"]
            return []
        out: list[dict[str, Any]] = []
        while True:
            resp = client.get_records(ShardIterator=iterator["it"], Limit=1000)
            iterator["it"] = resp["NextShardIterator"]
            if not resp["Records"]:
                return out
            for record in resp["Records"]:
                ddb = json.loads(json.dumps(record["dynamodb"], default=jsonable))
                out.append({**record, "dynamodb": ddb, "eventSourceARN": arn})


@contextlib.contextmanager
def iam_stack(directory: Path) -> Iterator[IamStack]:
    """moto (its own process) provisioned from template.yaml, IAM enforced from it."""
    log_path = directory / "moto.log"
    moto = MotoProcess.start(log_path=log_path)
    try:
        prov = provision(moto.endpoint, api_url=API_URL, demo_users=False)
        stack = IamStack(moto, prov, log_path, directory / "iam-usage.json")
        stack.enforce()
        yield stack
    finally:
        moto.stop()


@pytest.fixture(autouse=True)
def full_template(stack: IamStack) -> Iterator[None]:
    """Each test starts (and leaves the stack) with the repository template's policies; the
    importing module provides ``stack``."""
    stack.enforce()
    yield
    stack.enforce()
