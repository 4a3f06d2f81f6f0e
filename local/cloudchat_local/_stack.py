"""The local stack as one object: :class:`LocalStack` starts moto, provisions it, serves the
emulator, starts the stream consumers and seeds the demo data, and stops them in order (see
:mod:`cloudchat_local.dev`, which runs it from the command line)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cloudchat_local._consumers import ConsumerProcess
from cloudchat_local._functions import DEFAULT_MAX_CONCURRENCY, FunctionPools
from cloudchat_local._moto_server import MotoProcess
from cloudchat_local._outputs import build_outputs, write_outputs
from cloudchat_local._seed import seed_demo_conversation
from cloudchat_local._stack_settings import (
    DEFAULT_GSI_LAG_S,
    DEFAULT_MOTO_PORT,
    DEFAULT_PORT,
    DEFAULT_STATE_DIR,
    DEFAULT_TLS_PORT,
    DEFAULT_WEB_DIR,
    HOST,
    LOCAL_PARAMETERS,
    MOTO_STATE_FILE,
    api_url,
    free_port,
    port_is_free,
    state_lock,
)
from cloudchat_local._stack_wiring import emulator_config, start_consumers
from cloudchat_local.errors import FunctionStartError, LocalStackError, MotoStartError, PortInUse, SeedError
from cloudchat_local.iam import USAGE_FILE as IAM_USAGE_FILE
from cloudchat_local.iam import enforce as enforce_iam
from cloudchat_local.provision import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    DemoUser,
    Provisioned,
    graphql_api_resolve,
    provision,
)
from cloudchat_local.template import Template, load_template

if TYPE_CHECKING:
    from cloudchat_local.emulator import RunningEmulator

__all__ = ["LocalStack", "start"]

_PORT_ATTEMPTS: Final = 5

log = logging.getLogger("cloudchat_local.dev")


def apply_parameters(template: Template, parameters: Mapping[str, str]) -> None:
    """Template parameters take these values instead of their defaults (``--parameter``, as
    ``sam deploy --parameter-overrides``); a name the template does not declare is refused."""
    declared = template.document.get("Parameters") or {}
    for name, value in parameters.items():
        if name not in declared:
            raise ValueError(f"--parameter {name}: the template has no such parameter")
        declared[name]["Default"] = value


class LocalStack:
    """moto + provisioning + emulator + stream pollers + demo data, started and stopped as one.

    ::

        with LocalStack(state_dir, port=0, tls_port=None, moto_port=0) as stack:
            stack.graphql_url, stack.realtime_url, stack.outputs, stack.demo_users

    Nothing is set in this process's environment: each function runs in processes of its
    own (see :mod:`cloudchat_local.dev`).
    """

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        port: int = DEFAULT_PORT,
        tls_port: int | None = DEFAULT_TLS_PORT,
        moto_port: int = DEFAULT_MOTO_PORT,
        fresh: bool = False,
        seed: bool = True,
        outputs_path: Path | str | None = None,
        template_path: Path | str | None = None,
        template: Template | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        autosave_interval: float = 5.0,
        stream_poll_interval: float = 0.2,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        stream_lag_s: float = 0.0,
        say: Callable[[str], None] | None = None,
        gsi_lag_s: float = DEFAULT_GSI_LAG_S,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir or DEFAULT_STATE_DIR).resolve()
        self.outputs_path = Path(outputs_path).resolve() if outputs_path else (
            self.state_dir.parent / "outputs.json"
        )
        self.port = port
        self.tls_port = tls_port
        self.moto_port = moto_port
        self.fresh = fresh
        self.seed = seed
        self.template_path = Path(template_path) if template_path else None
        self.stack_name = stack_name
        self.region = region
        self.autosave_interval = autosave_interval
        self.stream_poll_interval = stream_poll_interval
        self.max_concurrency = max_concurrency
        self.stream_lag_s = stream_lag_s  # stream records reach the consumers this much later
        self.gsi_lag_s = gsi_lag_s
        self._say = say or (lambda text: None)
        # template parameter values other than their defaults (sam deploy --parameter-overrides)
        self.parameters = dict(parameters or {})

        self.template: Template | None = template
        self.moto: MotoProcess | None = None
        self.provisioned: Provisioned | None = None
        self.emulator: RunningEmulator | None = None
        self.consumers: list[ConsumerProcess] = []  # one process per stream function
        self.functions = FunctionPools()  # the wired functions' workers, by logical id
        self.outputs: dict[str, Any] = {}
        self.demo_conversation_id: str | None = None
        self.resolve: dict[str, str] = {}
        self._exit = contextlib.ExitStack()  # the emulator
        self._lock = contextlib.ExitStack()  # the state dir, released last
        self._started = False
        self._stopped = False

    # -- public ----------------------------------------------------------------------------

    @property
    def graphql_url(self) -> str:
        return self._running().graphql_url

    @property
    def realtime_url(self) -> str:
        return self._running().realtime_url

    @property
    def https_graphql_url(self) -> str | None:
        return self._running().https_graphql_url

    @property
    def wss_realtime_url(self) -> str | None:
        return self._running().wss_realtime_url

    @property
    def cert_path(self) -> Path | None:
        return self._running().cert_path

    @property
    def moto_endpoint(self) -> str:
        assert self.moto is not None, "the stack is not started"
        return self.moto.endpoint

    @property
    def demo_users(self) -> tuple[DemoUser, ...]:
        assert self.provisioned is not None, "the stack is not started"
        return self.provisioned.demo_users

    def __enter__(self) -> LocalStack:
        return self if self._started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Starts everything; on any failure, stops what was started and raises."""
        if self._started:
            raise LocalStackError("a LocalStack starts once")
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops pollers, emulator, workers and moto (which saves its state). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            try:
                for consumer in self.consumers:
                    consumer.stop()
                self._exit.close()
            finally:
                self.functions.stop()
        finally:
            try:
                if self.moto is not None:
                    self.moto.stop()  # saves its state
            finally:
                self._lock.close()

    def snapshot(self) -> None:
        """Saves moto's state now (it is saved on stop anyway)."""
        assert self.moto is not None, "the stack is not started"
        self.moto.snapshot()

    def wait(self, stop: threading.Event, *, check_interval: float = 0.5) -> str | None:
        """Blocks until ``stop`` is set (None) or moto or a stream consumers' process dies
        (the reason). A function's worker that dies is replaced, as on Lambda."""
        while not stop.wait(check_interval):
            if self.moto is not None and not self.moto.alive():
                code = self.moto.process.returncode
                return f"moto exited unexpectedly (code {code}); see {self.moto.log_path}"
            for consumer in self.consumers:
                if not consumer.alive():
                    code = consumer.process.returncode
                    return (f"the stream consumers' process of {consumer.function} exited "
                            f"unexpectedly (code {code})")
        return None

    # -- start -----------------------------------------------------------------------------

    def _running(self) -> RunningEmulator:
        assert self.emulator is not None, "the stack is not started"
        return self.emulator

    def _start(self) -> None:
        started = time.monotonic()
        template = self.template or load_template(self.template_path)
        apply_parameters(template, self.parameters)
        self.template = template
        self._lock.enter_context(state_lock(self.state_dir))
        if self.fresh:
            for path in (self.state_dir / MOTO_STATE_FILE, self.state_dir / IAM_USAGE_FILE,
                         *self.state_dir.glob("stream-checkpoints*.json")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.outputs_path.unlink()  # never leave a stale file that looks current

        # Explicit ports are checked before anything starts; 0 becomes a free port now.
        port = self._pick_port(self.port, "GraphQL API", "--port")
        tls_port = self._pick_port(self.tls_port, "GraphQL API over TLS", "--tls-port") \
            if self.tls_port is not None else None

        try:
            self.moto = MotoProcess.start(
                host=HOST,
                port=self.moto_port,
                state_file=self.state_dir / MOTO_STATE_FILE,
                log_path=self.state_dir / "moto.log",
                autosave_interval=self.autosave_interval,
                gsi_lag_s=self.gsi_lag_s,
            )
        except PortInUse as exc:
            raise PortInUse(self.moto_port, "moto", option="--moto-port") from exc
        except MotoStartError as exc:
            raise LocalStackError(str(exc)) from exc
        for note in self.moto.notes:
            self._say(f"note: {note}")
        log.info("moto serving at %s", self.moto.endpoint)

        self.provisioned = provision(
            self.moto.endpoint,
            region=self.region,
            stack_name=self.stack_name,
            template=template,
            parameters=LOCAL_PARAMETERS,
            api_url=api_url(port),
        )
        # Every AWS call of a function is checked against its policies in template.yaml.
        enforce_iam(self.moto.endpoint, template, self.provisioned.resolved,
                    usage_path=self.state_dir / IAM_USAGE_FILE)
        api_resolve: dict[str, str] = {}
        for attempt in range(_PORT_ATTEMPTS):
            self.resolve = {**self.provisioned.resolved, **api_resolve}
            try:
                self.emulator = self._exit.enter_context(self._emulator(template, port, tls_port))
                break
            except PortInUse as exc:
                auto = (self.port == 0 and exc.port == port) or (
                    self.tls_port == 0 and exc.port == tls_port
                )
                if not auto or attempt == _PORT_ATTEMPTS - 1:
                    busy = exc.port
                    option = "--tls-port" if busy == tls_port and busy != port else "--port"
                    raise PortInUse(busy, "GraphQL API", option=option) from exc
                # A free port we picked was taken in the meantime: pick again.
                port = self._pick_port(self.port, "GraphQL API", "--port")
                if self.tls_port is not None:
                    tls_port = self._pick_port(self.tls_port, "GraphQL API over TLS", "--tls-port")
                api_resolve = graphql_api_resolve(template, api_url(port), region=self.region,
                                                  account_id=self.provisioned.account_id)

        # The functions' first workers start while the stream consumers do (cold starts in
        # parallel: a few seconds in all).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prewarm") as background:
            prewarm = background.submit(self.functions.prewarm)
            try:
                self._start_consumers(template)
            finally:
                try:
                    prewarm.result()
                except FunctionStartError as exc:
                    raise LocalStackError(f"a function cannot start: {exc}") from exc
        if self.seed:
            try:
                self.demo_conversation_id, created = seed_demo_conversation(
                    self.graphql_url, self.provisioned
                )
                log.info("demo conversation %s %s", self.demo_conversation_id,
                         "created" if created else "already there")
            except (SeedError, OSError) as exc:
                self._say(f"warning: the demo conversation could not be created: {exc}")
        running = self._running()
        self.outputs = build_outputs(
            template=template,
            provisioned=self.provisioned,
            resolve=self.resolve,
            graphql_url=running.graphql_url,
            realtime_url=running.realtime_url,
            https_graphql_url=running.https_graphql_url,
            wss_realtime_url=running.wss_realtime_url,
            cert_path=running.cert_path,
            state_dir=self.state_dir,
            demo_conversation_id=self.demo_conversation_id,
            web_url=self._web_url(),
            web_dir=DEFAULT_WEB_DIR,
            stream_consumers=[
                {"function": source.function_logical_id, "stream": source.stream_arn}
                for consumer in self.consumers for source in consumer.sources
            ],
        )
        write_outputs(self.outputs_path, self.outputs)
        log.info("local stack up in %.1f s", time.monotonic() - started)

    def _web_url(self) -> str:
        """Where the web client is served (the HTTPS origin: Amplify needs ``wss://``)."""
        running = self._running()
        base = running.https_graphql_url or running.graphql_url
        return base.removesuffix("/graphql") + "/app/"

    def _pick_port(self, port: int, what: str, option: str) -> int:
        if port == 0:
            return free_port()
        if not port_is_free(port):
            raise PortInUse(port, what, option=option)
        return port

    def _emulator(
        self, template: Template, port: int, tls_port: int | None
    ) -> contextlib.AbstractContextManager[RunningEmulator]:
        from cloudchat_local.emulator import run_in_thread

        assert self.provisioned is not None
        self.functions = FunctionPools()  # nothing started yet: see prewarm in _start
        return run_in_thread(emulator_config(
            template, self.provisioned, self.resolve, self.functions, state_dir=self.state_dir,
            port=port, tls_port=tls_port, max_concurrency=self.max_concurrency))

    def _start_consumers(self, template: Template) -> None:
        assert self.provisioned is not None
        start_consumers(template, self.provisioned, self.resolve, self.consumers,
                        state_dir=self.state_dir, poll_interval_s=self.stream_poll_interval,
                        stream_lag_s=self.stream_lag_s)


def start(
    state_dir: Path | str,
    *,
    port: int = 0,
    tls_port: int | None = None,
    moto_port: int = 0,
    fresh: bool = False,
    **options: Any,
) -> LocalStack:
    """A started :class:`LocalStack` (free ports and no TLS by default, for tests)."""
    return LocalStack(state_dir, port=port, tls_port=tls_port, moto_port=moto_port, fresh=fresh,
                      **options).start()
