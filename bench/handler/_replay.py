"""Recorded AWS answers: a recorder (botocore event hooks on a client: each call's operation,
parameters and HTTP response as received) and a replayer (a ``before-send`` hook answering
each call with the next recorded HTTP response, so botocore still serializes, signs and
parses; nothing is sent). Public botocore events only, no library internals."""

from __future__ import annotations

import copy
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

_ids = itertools.count()


@dataclass(frozen=True)
class Exchange:
    """One AWS call: ``service.Operation``, the API parameters the caller gave, and the HTTP
    response (status, headers, body) that answered it."""

    service: str
    operation: str
    params: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"


class ReplayError(Exception):
    """A call the recording does not have (or in another order): the run is not comparable."""


class _Raw(io.BytesIO):
    """A response body as botocore reads it (``stream()``)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _agent(header: str | bytes | None) -> str | None:
    """A User-Agent header with its SDK feature ids (``m/A,B``: a set) in a stable order."""
    if header is None:
        return None
    text = header.decode() if isinstance(header, bytes) else header
    return " ".join("m/" + ",".join(sorted(t[2:].split(","))) if t.startswith("m/") else t
                    for t in text.split(" "))


def _client_service(client: Any) -> str:
    return str(client.meta.service_model.service_id.hyphenize())


class Recorder:
    """Records every call the given clients make, in order, until :meth:`close`."""

    def __init__(self, clients: list[Any]) -> None:
        self.exchanges: list[Exchange] = []
        self._params: dict[int, dict[str, Any]] = {}
        self._hooks: list[tuple[Any, str, str]] = []
        for client in clients:
            service = _client_service(client)
            uid = f"bench-handler-record-{next(_ids)}"
            client.meta.events.register(f"before-parameter-build.{service}", self._before,
                                        unique_id=uid + "-params")
            client.meta.events.register(f"after-call.{service}", self._after, unique_id=uid + "-call")
            self._hooks += [(client, f"before-parameter-build.{service}", uid + "-params"),
                            (client, f"after-call.{service}", uid + "-call")]

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self._params[id(context)] = copy.deepcopy(params)

    def _after(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        self.exchanges.append(Exchange(
            service=str(model.service_model.service_id.hyphenize()), operation=str(model.name),
            params=self._params.pop(id(context)), status=int(http_response.status_code),
            headers=dict(http_response.headers.items()), body=bytes(http_response.content)))

    def take(self) -> list[Exchange]:
        """The calls recorded since the last ``take``."""
        taken, self.exchanges = self.exchanges, []
        return taken

    def close(self) -> None:
        for client, event, uid in self._hooks:
            client.meta.events.unregister(event, unique_id=uid)
        self._hooks = []


@dataclass
class Replayer:
    """Answers each call of the registered clients with the next recorded exchange (the same
    operation, in the same order, or :class:`ReplayError`). :meth:`start` rewinds it for the
    next invocation; ``calls`` lists what the last invocation asked for, ``agents`` the
    User-Agent header of each of its requests (it names the client's settings and the SDK
    features a call used, so two clients set up alike send the same one)."""

    script: list[Exchange]
    calls: list[str] = field(default_factory=list)
    agents: list[str | None] = field(default_factory=list)
    _hooks: list[tuple[Any, str, str]] = field(default_factory=list)

    def attach(self, client: Any) -> None:
        service = _client_service(client)
        uid = f"bench-handler-replay-{next(_ids)}"
        client.meta.events.register(f"before-send.{service}", self._answer, unique_id=uid)
        self._hooks.append((client, f"before-send.{service}", uid))

    def start(self) -> None:
        self.calls = []
        self.agents = []

    def done(self) -> None:
        """Raises unless the invocation made exactly the recorded calls."""
        wanted = [e.name for e in self.script]
        if self.calls != wanted:
            raise ReplayError(f"the invocation made {self.calls}, the recording has {wanted}")

    def _answer(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        service, operation = event_name.split(".", 2)[1:]
        self.calls.append(f"{service}.{operation}")
        self.agents.append(_agent(request.headers.get("User-Agent")))
        i = len(self.calls) - 1
        if i >= len(self.script) or self.script[i].name != self.calls[-1]:
            raise ReplayError(f"call {i + 1} is {self.calls[-1]}, not in the recording "
                              f"{[e.name for e in self.script]}")
        e = self.script[i]
        return AWSResponse(request.url, e.status, HTTPHeaders.from_dict(e.headers), _Raw(e.body))

    def detach(self) -> None:
        for client, event, uid in self._hooks:
            client.meta.events.unregister(event, unique_id=uid)
        self._hooks = []
