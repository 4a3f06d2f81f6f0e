"""The stream consumers' own process: template.yaml's DynamoDB stream functions run apart
from the resolvers, as on Lambda.

Lambda runs a stream consumer in containers of its own: it shares no memory (caches, clients,
module state) with the API's resolvers and no CPU with them. The local stack does the same:
:class:`ConsumerProcess` starts this module as a child process, which polls the streams
(:class:`cloudchat_local._streams.StreamPoller`) and invokes the handlers. In one process
with the emulator, the consumer's work (its DynamoDB requests, decrypting previews, signing
publishes) competed with every API request for the interpreter lock.

The parent writes what the child needs to a JSON file (the template, resolved references, the
moto endpoint and credentials, where checkpoints go); the child opens its shard iterators
(``LATEST`` means from then on), prints ``READY`` and from then on writes to stderr only. It
stops when its stdin closes, or on SIGTERM, finishing the batch in hand. Logs (the pollers',
the handlers') go to the parent's stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudchat_local._streams import (
    CheckpointStore,
    StreamEventSource,
    StreamPoller,
    stop_all,
    stream_event_sources,
)

log = logging.getLogger("cloudchat_local.consumers")

Handler = Callable[[dict[str, Any], Any], Any]


class ConsumerStartError(RuntimeError):
    """The consumer process did not come up (its reason is the message)."""


def load_handler(module: str, attr: str) -> Handler:
    """The callable ``module.attr`` (a function's Handler)."""
    try:
        handler = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConsumerStartError(f"cannot load handler {module}.{attr}: {exc}") from exc
    if not callable(handler):
        raise ConsumerStartError(f"{module}.{attr} is not callable")
    return handler


# =========================================================================== child side


def _client_factory(spec: Mapping[str, Any]) -> Callable[[str], Any]:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=spec["access_key_id"], aws_secret_access_key=spec["secret_access_key"],
        region_name=spec["region"])
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def client(service: str) -> Any:
        with lock:
            if service not in clients:
                clients[service] = session.client(service, endpoint_url=spec["endpoint"])
            return clients[service]

    return client


def _start_pollers(spec: Mapping[str, Any]) -> list[StreamPoller]:
    from cloudchat_local.template import Template

    template = Template(spec["document"], Path(spec["template_path"]))
    sources = stream_event_sources(template, spec["resolve"])
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
            ).start())
    except BaseException:
        stop_all(pollers)
        raise
    return pollers


def _configure_logging(level: int) -> None:
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.basicConfig(level=level, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(fmt)
    own = logging.StreamHandler(sys.stderr)  # Powertools filters "cloudchat" off the root
    own.setFormatter(fmt)
    stack_logger = logging.getLogger("cloudchat_local")
    stack_logger.addHandler(own)
    stack_logger.setLevel(level)
    stack_logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudchat_local._consumers")
    parser.add_argument("spec", type=Path, help="the JSON file the parent wrote")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    for entry in reversed(spec.get("sys_path") or []):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    _configure_logging(int(spec.get("log_level", logging.WARNING)))
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    def watch_stdin() -> None:
        with contextlib.suppress(Exception):
            while sys.stdin.buffer.read(65536):
                pass
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
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

    @classmethod
    def start(cls, *, spec: Mapping[str, Any], spec_path: Path,
              sources: Sequence[StreamEventSource], timeout: float = 60.0,
              python: str = sys.executable) -> ConsumerProcess:
        """Writes ``spec`` to ``spec_path``, starts the child and returns once its pollers
        have opened their shard iterators. ConsumerStartError if it cannot."""
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(
            {"sys_path": list(sys.path), "log_level": logging.getLogger("cloudchat_local")
             .getEffectiveLevel(), **spec}), encoding="utf-8")
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [python, "-m", "cloudchat_local._consumers", str(spec_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
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
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            return self._wait(timeout)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()

    def _wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


if __name__ == "__main__":
    sys.exit(main())
