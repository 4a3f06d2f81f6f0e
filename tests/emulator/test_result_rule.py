"""The emulator's result rule agrees with appsync/invoke.js, run by Node with a stub
``@aws-appsync/utils`` whose ``util.error`` records its arguments."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from cloudchat_local.emulator import EmulatorConfig, Engine, LambdaResolver, build_event, lambda_outcome
from cloudchat_local.emulator._events import FieldError, LambdaContext, invoke_handler

from .appsync_js import run_appsync_js
from .conftest import FIXTURE_SCHEMA

REPO = Path(__file__).resolve().parents[2]
INVOKE_JS = REPO / "appsync" / "invoke.js"

STUB = """
export class UtilError extends Error {
  constructor(args) { super('util.error'); this.args = args; }
}
export const util = { error(...args) { throw new UtilError(args); } };
"""

RUNNER = """
import fs from 'node:fs';
import { request, response } from './invoke.mjs';
import { UtilError } from '@aws-appsync/utils';

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = input.cases.map((ctx) => {
  try {
    const value = response(ctx);
    return { kind: 'value', value: value === undefined ? null : value };
  } catch (e) {
    if (!(e instanceof UtilError)) throw e;
    const [message, type, data, info] = e.args;
    return { kind: 'error', message: message ?? null, type: type ?? null,
             data: data ?? null, info: info ?? null };
  }
});
const req = request(input.requestCtx);
console.log(JSON.stringify({ out, request: req }));
"""

CASES: list[dict[str, Any]] = [
    {"result": {"id": "1", "text": "ok"}},
    {"result": {"error": {"type": "Forbidden", "message": "no"}}},
    {"result": {"error": {"type": "NotFound", "message": "gone", "info": {"id": "x"}}}},
    {"result": {"error": {"type": "BadRequest", "message": "m", "info": {}}}},
    {"result": {"error": {"type": "BadRequest", "message": "m", "info": 0}}},
    {"result": {"error": {"type": "BadRequest", "message": "m", "info": ""}}},
    {"result": {"error": {"type": "BadRequest", "message": "m", "info": False}}},
    {"result": {"error": {"message": "no type"}}},
    {"result": {"error": {"type": "", "message": "empty type"}}},
    {"result": {"error": {"type": 0, "message": "zero type"}}},
    {"result": {"error": {"type": 1, "message": "numeric type"}}},
    {"result": {"error": {"type": "T"}}},
    {"result": {"error": {"type": "T", "message": 5}}},
    {"result": {"error": "just a string"}},
    {"result": {"error": {}}},
    {"result": {"error": []}},
    {"result": {"error": None}},
    {"result": {"error": 0}},
    {"result": None},
    {"result": []},
    {"result": [{"error": {"type": "X", "message": "in a list"}}]},
    {"result": 0},
    {"result": ""},
    {"result": "text"},
    {"result": True},
    {"result": False},
    {"result": {}},
    {"error": {"message": "boom", "type": "Lambda:Unhandled"}, "result": None},
    {
        "error": {"message": "boom", "type": "Lambda:Unhandled"},
        "result": {"error": {"type": "X", "message": "ignored"}},
    },
    {"error": {}},
    {"error": None, "result": {"error": {"type": "Conflict", "message": "retry"}}},
]


def _python(ctx: dict[str, Any]) -> dict[str, Any]:
    outcome = lambda_outcome(result=ctx.get("result"), error=ctx.get("error"))
    if isinstance(outcome, FieldError):
        return {
            "kind": "error",
            "message": outcome.message,
            "type": outcome.error_type,
            "data": outcome.data,
            "info": outcome.error_info,
        }
    return {"kind": "value", "value": outcome.value}


@pytest.fixture(scope="module")
def js_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    request_ctx = {
        "arguments": {"a": 1},
        "identity": {"sub": "s"},
        "source": None,
        "info": {"fieldName": "f"},
        "request": {"headers": {}},
        "prev": None,
        "stash": {},
    }
    result: dict[str, Any] = run_appsync_js(
        tmp_path_factory.mktemp("invoke-js"), stub=STUB, modules={"invoke": INVOKE_JS},
        runner=RUNNER, payload={"cases": CASES, "requestCtx": request_ctx})
    return result


@pytest.mark.parametrize("index", range(len(CASES)))
def test_python_rule_matches_invoke_js(js_results: dict[str, Any], index: int) -> None:
    assert _python(CASES[index]) == js_results["out"][index], CASES[index]


def test_request_payload_has_the_event_keys(js_results: dict[str, Any]) -> None:
    request = js_results["request"]
    assert request["operation"] == "Invoke"
    event = build_event(
        arguments={},
        identity=None,
        source=None,
        field_name="f",
        parent_type_name="Query",
        field_nodes=[],
        fragments={},
        variables={},
        headers={},
    )
    assert set(request["payload"]) == set(event)


def test_exceptions_and_unserializable_results_are_lambda_unhandled() -> None:
    context = LambdaContext(function_name="f", memory_limit_in_mb=128, timeout_s=3)

    def boom(event: Any, context: Any) -> None:
        raise ValueError("bad input")

    def decimal(event: Any, context: Any) -> Any:
        from decimal import Decimal

        return {"n": Decimal("1")}

    assert invoke_handler(boom, {}, context) == FieldError("bad input", "Lambda:Unhandled")
    outcome = invoke_handler(decimal, {}, context)
    assert isinstance(outcome, FieldError)
    assert outcome.error_type == "Lambda:Unhandled"
    assert "Decimal" in str(outcome.message)


def test_handler_timeout_is_lambda_unhandled() -> None:
    release = threading.Event()

    def hangs(event: Any, context: Any) -> str:
        release.wait(10)
        return "too late"

    engine = Engine(EmulatorConfig(schema_path=FIXTURE_SCHEMA))
    try:
        outcome = asyncio.run(engine.invoke(LambdaResolver(hangs, "hangs", timeout_s=0.05), {}))
    finally:
        release.set()
        engine.close()
    assert outcome == FieldError("Task timed out after 0.05 seconds", "Lambda:Unhandled")
