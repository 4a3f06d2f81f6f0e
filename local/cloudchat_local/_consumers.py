"""A stream function's own process: each of template.yaml's DynamoDB stream functions runs
apart from the resolvers and from the others, as on Lambda.

Lambda runs a stream consumer in containers of its own: it shares no memory (caches, clients,
module state) with the API's resolvers and no CPU with them, and sees only its own
environment. The local stack does the same: :class:`ConsumerProcess` starts this module as a
child process per stream function, with exactly that function's environment and credentials
(built by the parent: :func:`cloudchat_local._functions.function_config`), which polls its
streams (:class:`cloudchat_local._streams.StreamPoller`, Lambda's event source mapping: it
reads with the stack's own credentials, given in the spec) and invokes the handler.

The parent writes what the child needs to a JSON file (the template, resolved references, the
moto endpoint and credentials, where checkpoints go); the child opens its shard iterators
(``LATEST`` means from then on), prints ``READY`` and from then on writes to stderr only. It
stops when its stdin closes, or on SIGTERM, finishing the batch in hand. Logs (the pollers',
the handlers') go to the parent's stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudchat_local._runtime import configure_logging, load_handler, stop_child, stop_on_signal
from cloudchat_local._streams import (
    CheckpointStore,
    StreamEventSource,
    StreamPoller,
    stop_all,
    stream_event_sources,
)
from cloudchat_local.errors import ConsumerStartError

if TYPE_CHECKING:

    from cloudchat_local._provision_base import Clients

log = logging.getLogger("cloudchat_local.consumers")


# =========================================================================== child side


def _client_factory(spec: Mapping[str, Any]) -> Clients:
    """One client per service on the moto server, made on first use (pollers share them)."""
    from cloudchat_local._provision_base import clients_for

    return clients_for(spec["endpoint"], spec["region"], (spec["access_key_id"], spec["secret_access_key"]))


def _start_pollers(spec: Mapping[str, Any]) -> list[StreamPoller]:
    from cloudchat_local.template import Template

    template = Template(spec["document"], Path(spec["template_path"]))
    sources = [source for source in stream_event_sources(template, spec["resolve"])
               if spec.get("function") in (None, source.function_logical_id)]
    clients = _client_factory(spec)
    checkpoints = CheckpointStore(Path(spec["checkpoints"]))
    pollers: list[StreamPoller] = []
    try:
        for source in sources:
            pollers.append(StreamPoller(
                source, load_handler(source.module, source.handler_attr),
                client=clients("dynamodbstreams"), checkpoints=checkpoints,
                region=spec["region"], account_id=spec["account_id"],
                poll_interval_s=float(spec["poll_interval_s"]), clients=clients,
                latency_s=float(spec.get("stream_lag_s", 0.0)), isolate=True,
            ).start())
    except BaseException:
        stop_all(pollers)
        raise
    return pollers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudchat_local._consumers")
    parser.add_argument("spec", type=Path, help="the JSON file the parent wrote")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    for entry in reversed(spec.get("sys_path") or []):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    configure_logging(int(spec.get("log_level", logging.WARNING)))
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    stop = threading.Event()
    stop_on_signal(stop, watch_stdin=True)
    try:
        pollers = _start_pollers(spec)
    except Exception as exc:
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        return 1
    print("READY", flush=True)
    # Nothing else may go to stdout (the parent stops reading it): handlers print and log.
    sys.stdout = sys.stderr
    os.dup2(2, 1)
    from cloudchat_local._gc import settle

    settle()
    stop.wait()
    stop_all(pollers)
    return 0


# =========================================================================== parent side


@dataclass
class ConsumerProcess:
    """A running ``_consumers`` child process (see :meth:`start`)."""

    process: subprocess.Popen[bytes]
    sources: tuple[StreamEventSource, ...]

    @property
    def function(self) -> str:
        """The stream function's logical id (of its first source)."""
        return self.sources[0].function_logical_id if self.sources else ""

    @classmethod
    def start(cls, *, spec: Mapping[str, Any], spec_path: Path,
              sources: Sequence[StreamEventSource], timeout: float = 60.0,
              python: str = sys.executable, env: Mapping[str, str] | None = None) -> ConsumerProcess:
        """Writes ``spec`` to ``spec_path``, starts the child with ``env`` as its whole
        environment (default: this process's) and returns once its pollers have opened their
        shard iterators. ConsumerStartError if it cannot."""
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(
            {"sys_path": list(sys.path), "log_level": logging.getLogger("cloudchat_local")
             .getEffectiveLevel(), **spec}), encoding="utf-8")
        environment = dict(os.environ if env is None else env)
        environment["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [python, "-m", "cloudchat_local._consumers", str(spec_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment,
            start_new_session=True,  # Ctrl-C reaches the parent only; it stops us in order
        )
        consumer = cls(process, tuple(sources))
        try:
            line = consumer._first_line(timeout)
        except BaseException:
            consumer.stop()
            raise
        if line != "READY":
            consumer.stop()
            raise ConsumerStartError(
                f"the stream consumers did not start: {line.removeprefix('ERROR ') or 'no answer'}")
        return consumer

    def _first_line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConsumerStartError(f"the stream consumers did not start in {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
        return data.decode("utf-8", "replace").split("\n", 1)[0].strip()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Closes stdin (the child finishes its batch and stops), then SIGTERM, then SIGKILL."""
        return stop_child(self.process, timeout)


if __name__ == "__main__":
    sys.exit(main())
