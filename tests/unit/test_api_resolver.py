"""cloudchat.api.Resolver: routing, the error contract of appsync/invoke.js, thread safety."""

import threading
from types import SimpleNamespace

from cloudchat import api
from cloudchat.errors import Forbidden


def event(field: str, who: str = "u1", **arguments) -> dict:
    return {"arguments": arguments, "identity": {"sub": who, "claims": {}},
            "info": {"parentTypeName": "Query", "fieldName": field}}


def test_routes_arguments_and_maps_errors() -> None:
    app = api.create_app()

    @app.resolver(type_name="Query", field_name="echo")
    def echo(text: str) -> dict:
        return {"text": text, "by": api.caller(app).user_id}

    @app.resolver(type_name="Query", field_name="deny")
    def deny() -> None:
        raise Forbidden("no")

    @app.resolver(type_name="Query", field_name="boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    ctx = SimpleNamespace(aws_request_id="req-1")
    assert app.resolve(event("echo", text="hi"), ctx) == {"text": "hi", "by": "u1"}
    assert app.resolve(event("deny"), ctx) == {"error": {"type": "Forbidden", "message": "no"}}
    masked = app.resolve(event("boom"), ctx)
    assert masked == {"error": {"type": "InternalFailure", "message": "Internal failure (request req-1)"}}
    assert app.resolve(event("missing"), ctx)["error"]["type"] == "InternalFailure"
    assert app.resolve({**event("echo", text="x"), "identity": None}, ctx)["error"]["type"] == "Unauthorized"
    assert set(app.routes) == {"Query.echo", "Query.deny", "Query.boom"}


def test_each_thread_sees_its_own_event() -> None:
    app = api.create_app()
    inside = threading.Barrier(8)

    @app.resolver(type_name="Query", field_name="who")
    def who() -> str:
        inside.wait(timeout=5)  # every thread is inside a handler at once
        return api.caller(app).user_id

    results: dict[str, str] = {}

    def run(i: int) -> None:
        results[f"u{i}"] = app.resolve(event("who", who=f"u{i}"), None)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {f"u{i}": f"u{i}" for i in range(8)}
