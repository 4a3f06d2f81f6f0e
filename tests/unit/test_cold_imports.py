"""What a function's cold import loads, so the cold start cannot grow silently.

DESIGN.md: importing a resolver costs at most 1.3x ``import boto3`` (measured by
``python -m bench.cold_start``; docs/performance.md, "Cold start"). A wall-clock assertion
would be flaky on a shared machine, so this checks what the time is made of instead: in a
fresh interpreter laid out as Lambda does (the layer's package and the function's modules on
the path, ``-S``), which modules ``import <function>`` adds to ``import boto3``'s, and that
nothing is done at import (no AWS client, credentials, settings or service).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "shared"
RESOLVERS = ["users", "conversations", "messages", "receipts", "cognito"]

PROBE = """
import json, sys
import boto3
before = set(sys.modules)
import {module}
from cloudchat import api, aws, config
print(json.dumps({{
    "new": sorted(set(sys.modules) - before),
    "made": [f.cache_info().currsize for f in (aws._client, aws._credentials, config.get_settings,
                                               api.service, api.publisher, api.notifier)],
}}))
"""

#: never on a cold import: ~200 ms of X-Ray sampling client, 30-40 ms of every Powertools
#: event handler, cryptography (loaded on the first seal or open)
NEVER = ("aws_xray_sdk", "aws_lambda_powertools.event_handler",
         "cryptography", "pydantic")
#: the stream consumer's alone (Powertools' batch utility, the fan-out and what it sends with)
STREAM_ONLY = ("asyncio", "aws_lambda_powertools.utilities.batch",
               "aws_lambda_powertools.utilities.data_classes", "cloudchat.fanout", "cloudchat.purge",
               "cloudchat.erasure", "cloudchat.notices", "cloudchat.notifier", "cloudchat.publisher",
               "cloudchat.store._stream")
#: what else a function may add to boto3's modules (standard library and third party);
#: a new entry is a cold-start cost to measure first (bench/cold_start.py)
OTHERS = {"typing_extensions", "unicodedata"}  # Powertools' logger; validation/searchtext
STREAM_OTHERS = OTHERS | {"_asyncio"}  # (asyncio.*: Powertools' batch utility)
#: the package's modules a cold import loads (52 for a resolver, 58 for the consumer, today):
#: a ceiling with room for a few more, so that a new module is a decision, not a drift
CLOUDCHAT_MODULES = 62


def _cold_import(module: str) -> dict[str, list]:
    paths = [REPO / "resolvers", LAYER, Path(sysconfig.get_paths()["purelib"])]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(PYTHONPATH=os.pathsep.join(map(str, paths)), AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_SERVICE_NAME="cloudchat")
    done = subprocess.run([sys.executable, "-S", "-c", PROBE.format(module=module)], env=env,
                          cwd=REPO / "resolvers", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out: dict[str, list] = json.loads(done.stdout)
    return out


@pytest.mark.parametrize("module", RESOLVERS)
def test_a_resolver_loads_only_what_requests_need(module: str) -> None:
    loaded = _cold_import(module)
    new = set(loaded["new"])
    assert sorted(m for m in new if m.startswith(NEVER + STREAM_ONLY)) == []
    assert sorted(new - OTHERS - {module} - {m for m in new if m.startswith(
        ("cloudchat", "aws_lambda_powertools"))}) == []
    assert len([m for m in new if m.startswith("cloudchat")]) <= CLOUDCHAT_MODULES
    assert loaded["made"] == [0] * 6  # nothing made at import: clients, settings, service


def test_the_stream_consumer_loads_powertools_batch_and_nothing_heavier() -> None:
    loaded = _cold_import("stream")
    new = set(loaded["new"])
    assert sorted(m for m in new if m.startswith(NEVER)) == []
    assert {"aws_lambda_powertools.utilities.batch", "cloudchat.fanout"} <= new
    assert sorted(new - STREAM_OTHERS - {"stream"} - {m for m in new if m.startswith(
        ("cloudchat", "aws_lambda_powertools", "asyncio"))}) == []
    assert len([m for m in new if m.startswith("cloudchat")]) <= CLOUDCHAT_MODULES
    assert loaded["made"] == [0] * 6


def test_every_record_class_is_made_by_cloudchat_dataclass() -> None:
    """The standard library's decorator compiles each record's methods at import
    (cloudchat/dataclass.py): the package's records use the drop-in."""
    offenders = []
    for path in sorted((LAYER / "cloudchat").rglob("*.py")):
        if path.name == "dataclass.py" and path.parent.name == "cloudchat":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "dataclasses" and any(
                    alias.name == "dataclass" for alias in node.names):
                offenders.append(str(path.relative_to(REPO)))
            if isinstance(node, ast.Attribute) and node.attr == "dataclass" and isinstance(
                    node.value, ast.Name) and node.value.id == "dataclasses":
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
