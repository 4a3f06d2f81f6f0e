"""``make dev``: the whole local stack on 127.0.0.1, from template.yaml.

    python -m cloudchat_local.dev [--port 4000] [--tls-port 4443 | --no-tls] [--moto-port 4010]
                                  [--state-dir .cloudchat/state] [--outputs PATH] [--fresh]

What it does, in order (:class:`LocalStack`, which tests use too):

1. starts moto in server mode as a child process (:mod:`cloudchat_local._moto_server`: the
   DynamoDB transaction patch is applied there; its state is restored from and saved to
   ``<state-dir>/moto-state.pickle``);
2. provisions it from template.yaml (:func:`cloudchat_local.provision.provision`, idempotent)
   and creates the demo users;
3. serves schema.graphql with the template's field wiring in the AppSync emulator (Cognito
   JWTs verified against moto's JWKS; IAM SigV4 with the local credentials and each
   function's own); each wired function runs isolated, as on Lambda, in worker processes of
   its own with exactly its template environment and its own credentials
   (:mod:`cloudchat_local._functions`; one worker per function is started at once, in
   parallel, more when all are busy, up to ``--max-concurrency``);
4. polls the table stream for every function with a ``Type: DynamoDB`` event, in a process
   per function with that function's environment (:mod:`cloudchat_local._consumers`,
   :mod:`cloudchat_local._streams`);
5. creates the demo "Welcome" conversation through the API (once);
6. writes ``outputs.json`` (default: next to the state dir, ``.cloudchat/outputs.json``) and
   prints the banner.

The emulator also serves the web client (``web/dist``, built by ``make web``) at ``/app/``
with its ``/config.json`` (USER_PASSWORD_AUTH, the API on the same origin) and ``/cognito``,
a same-origin route to moto's Cognito; the banner prints the HTTPS URL (``WebClientUrl``).

Ports (all on 127.0.0.1; 0 picks a free one):

* ``--port`` (4000): HTTP ``/graphql`` (GraphiQL on GET) and WS ``/graphql/realtime``
* ``--tls-port`` (4443): the same over HTTPS/WSS with a self-signed certificate kept in
  ``<state-dir>/tls/cert.pem`` (Amplify v6 only speaks ``wss://``); ``--no-tls`` turns it off
* ``--moto-port`` (4010): moto (Cognito, DynamoDB, KMS, Secrets Manager ... and the JWKS)

State (``--state-dir``, default ``.cloudchat/state``, gitignored):

* ``moto-state.pickle``: every moto backend (users, table items and stream, keys, secrets,
  queues ...), restored when moto starts and saved when it stops (also when this process is
  killed: moto notices and saves), plus every 5 s after a change, so even a moto killed
  with ``kill -9`` loses only its last seconds; see :mod:`._moto_server`;
* ``stream-checkpoints-<Function>.json``: how far each stream consumer got, so a restart
  resumes there;
* ``tls/``: the self-signed certificate (kept by ``--fresh``, so a browser trusts it once);
* ``moto.log``: moto's own log. ``--fresh`` deletes the AWS state, the checkpoints and the recorded IAM usage.

Ctrl-C or SIGTERM stops the stream pollers, the emulator, the functions' workers and moto
(which saves its state), in that order. A busy port or state dir is reported in one line,
with exit code 2. moto, the workers and the stream consumers also stop by themselves if this
process dies (they watch their stdin), so nothing is left running.
``kill -USR1 <pid>`` prints every thread's stack (a stuck handler, say).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import faulthandler
import fcntl
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Final

from cloudchat_local._consumers import ConsumerProcess
from cloudchat_local._functions import (
    DEFAULT_MAX_CONCURRENCY,
    FunctionConfig,
    FunctionPool,
    FunctionPools,
    function_config,
    worker_environment,
)
from cloudchat_local._gc import settle
from cloudchat_local._moto_server import MotoProcess
from cloudchat_local._outputs import banner, build_outputs, write_outputs
from cloudchat_local._runtime import configure_logging
from cloudchat_local._seed import seed_demo_conversation
from cloudchat_local._streams import StreamEventSource, stream_event_sources
from cloudchat_local.errors import (
    ConsumerStartError,
    EmulatorError,
    FunctionStartError,
    Interrupted,
    LocalStackError,
    MotoStartError,
    PortInUse,
    ProvisionError,
    SeedError,
    StateDirBusy,
    TemplateError,
)
from cloudchat_local.iam import USAGE_FILE as IAM_USAGE_FILE
from cloudchat_local.iam import appsync_credentials, build_policy_map
from cloudchat_local.iam import enforce as enforce_iam
from cloudchat_local.provision import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    DemoUser,
    Provisioned,
    graphql_api_resolve,
    provision,
)
from cloudchat_local.template import (
    DEFAULT_TEMPLATE_PATH,
    Template,
    load_template,
)

if TYPE_CHECKING:
    from cloudchat_local.emulator import RunningEmulator

__all__ = [
    "DEFAULT_MOTO_PORT",
    "DEFAULT_PORT",
    "DEFAULT_STATE_DIR",
    "DEFAULT_TLS_PORT",
    "LocalStack",
    "LocalStackError",
    "PortInUse",
    "StateDirBusy",
    "main",
    "start",
]

DEFAULT_PORT: Final = 4000
DEFAULT_TLS_PORT: Final = 4443
DEFAULT_MOTO_PORT: Final = 4010
#: GSI reads lag the table by this much in ``make dev``. DynamoDB propagates a write to
#: its GSIs "within a fraction of a second" normally (within 1 s, AWS Knowledge Center),
#: and never promises read-after-write through one. 0.2 s is well above a client's time
#: from a write to its next read, so code that reads its own write through an index fails
#: locally every time, and short enough that nobody waits on it by hand.
DEFAULT_GSI_LAG_S: Final = 0.2
DEFAULT_STATE_DIR: Final = DEFAULT_TEMPLATE_PATH.parent / ".cloudchat" / "state"
#: The built web client (``make web``), served by the emulator at ``/app/``.
DEFAULT_WEB_DIR: Final = DEFAULT_TEMPLATE_PATH.parent / "web" / "dist"
HOST: Final = "127.0.0.1"
MOTO_STATE_FILE: Final = "moto-state.pickle"
#: A stream function's checkpoints: ``stream-checkpoints-<Function>.json`` (one process each).
STREAM_CHECKPOINTS_FILE: Final = "stream-checkpoints-{function}.json"
LEGACY_CHECKPOINTS_FILE: Final = "stream-checkpoints.json"  # all functions' (before isolation)
CONSUMERS_SPEC_FILE: Final = "consumers-{function}.json"  # what a consumers' process is given
READY_LINE: Final = "CloudChat local stack ready"
_PORT_ATTEMPTS: Final = 5

log = logging.getLogger("cloudchat_local.dev")


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _api_url(port: int) -> str:
    """What ``!GetAtt GraphQLApi.GraphQLUrl`` is locally (function environments, outputs):
    the emulator's plain-HTTP endpoint, which in-process code can reach without the cert."""
    return f"http://{HOST}:{port}/graphql"


def _auth_settings(template: Template) -> tuple[set[str], str | None]:
    """The API's auth types (default + additional) and its app client id regex, if any."""
    auth = template.graphql_api().properties.get("Auth") or {}
    types = {str(auth.get("Type", "AMAZON_COGNITO_USER_POOLS"))}
    for extra in auth.get("Additional") or []:
        if isinstance(extra, Mapping) and extra.get("Type"):
            types.add(str(extra["Type"]))
    regex = (auth.get("UserPool") or {}).get("AppIdClientRegex")
    return types, str(regex) if regex else None


def _resolver_code(wiring: Any) -> str | None:
    """The file name of a resolver's own code (appsync/subscribe.js, appsync/revoke.js), whose
    rule the emulator applies; None for SAM's default pass-through code."""
    path = wiring.resolver_code_path
    return None if path is None else str(path.name)


@contextlib.contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(state_dir / ".lock", "a+")  # noqa: SIM115 - held until exit
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip()
            raise StateDirBusy(
                f"another local stack{f' (pid {holder})' if holder else ''} is using {state_dir}: "
                "stop it, or use another --state-dir"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


# --------------------------------------------------------------------------- the stack


class LocalStack:
    """moto + provisioning + emulator + stream pollers + demo data, started and stopped as one.

    ::

        with LocalStack(state_dir, port=0, tls_port=None, moto_port=0) as stack:
            stack.graphql_url, stack.realtime_url, stack.outputs, stack.demo_users

    Nothing is set in this process's environment: each function runs in processes of its
    own (see the module docstring).
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
        self.template = template
        self._lock.enter_context(_state_lock(self.state_dir))
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
            api_url=_api_url(port),
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
                api_resolve = graphql_api_resolve(template, _api_url(port), region=self.region,
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
            return _free_port()
        if not _port_is_free(port):
            raise PortInUse(port, what, option=option)
        return port

    def _emulator(
        self, template: Template, port: int, tls_port: int | None
    ) -> contextlib.AbstractContextManager[RunningEmulator]:
        from cloudchat_local.emulator import (
            NONE_DATA_SOURCE,
            CognitoConfig,
            EmulatorConfig,
            IamConfig,
            IamCredential,
            LambdaResolver,
            run_in_thread,
        )

        assert self.provisioned is not None
        prov = self.provisioned
        resolvers: dict[tuple[str, str], Any] = {}
        self.functions = FunctionPools()  # nothing started yet: see prewarm in _start
        for wiring in template.field_wiring():
            key = (wiring.type_name, wiring.field_name)
            if wiring.data_source_kind == "NONE":
                resolvers[key] = NONE_DATA_SOURCE
                continue
            assert wiring.function_logical_id is not None
            pool = self.functions.get(wiring.function_logical_id)
            if pool is None:
                pool = self.functions[wiring.function_logical_id] = FunctionPool(
                    self._function_config(template, wiring.function_logical_id),
                    max_concurrency=self.max_concurrency)
            resolvers[key] = LambdaResolver(
                invoker=pool,
                function_name=pool.config.function_name,
                memory_limit_in_mb=pool.config.memory_limit_in_mb,
                timeout_s=pool.config.timeout_s,
                sets_subscription_filter=_resolver_code(wiring) == "subscribe.js",
                revokes_subscriptions=_resolver_code(wiring) == "revoke.js",
            )
        auth_types, client_regex = _auth_settings(template)
        cognito = None
        if "AMAZON_COGNITO_USER_POOLS" in auth_types:
            clients: frozenset[str] = frozenset()  # AppSync: any client of the pool
            if client_regex is not None:
                clients = frozenset(
                    c for c in (prov.user_pool_client_id,) if re.fullmatch(client_regex, c)
                ) or frozenset({"<no client matches AppIdClientRegex>"})
            cognito = CognitoConfig(
                user_pool_id=prov.user_pool_id,
                jwks_url=prov.jwks_url,
                issuer=prov.issuer,
                client_ids=clients,
            )
        iam = None
        if "AWS_IAM" in auth_types:
            # The stack's own key, and each function's (its execution role: the stream
            # function signs its publishUserEvent mutations with it), each checked against
            # its function's appsync:GraphQL grants.
            iam = IamConfig((IamCredential(prov.access_key_id, prov.secret_access_key,
                                           account_id=prov.account_id),
                             *appsync_credentials(build_policy_map(template, self.resolve),
                                                  self.state_dir / IAM_USAGE_FILE)))
        from cloudchat_local.web_config import local_config

        scheme, web_port = ("https", tls_port) if tls_port is not None else ("http", port)
        config = EmulatorConfig(
            schema_path=template.schema_path(),
            resolvers=resolvers,
            cognito=cognito,
            iam=iam,
            host=HOST,
            port=port,
            tls_port=tls_port,
            state_dir=self.state_dir,
            web_dir=DEFAULT_WEB_DIR,
            # The web client signs in through the emulator (same origin; moto's missing
            # GetTokensFromRefreshToken is translated there), see emulator._cognito_proxy.
            web_config=local_config(
                graphql_url=f"{scheme}://{HOST}:{web_port}/graphql", region=prov.region,
                user_pool_id=prov.user_pool_id, user_pool_client_id=prov.user_pool_client_id,
                cognito_endpoint=f"{scheme}://{HOST}:{web_port}/cognito",
            ),
            cognito_proxy_upstream=prov.cognito_endpoint,
        )
        return run_in_thread(config)

    def _function_config(self, template: Template, logical_id: str) -> FunctionConfig:
        prov = self.provisioned
        assert prov is not None
        return function_config(template, logical_id, self.resolve, endpoint=prov.endpoint,
                               region=prov.region, account_id=prov.account_id)

    def _start_consumers(self, template: Template) -> None:
        """Template.yaml's stream consumers, in a process of their own per function, with
        that function's environment (as on Lambda: see cloudchat_local._consumers)."""
        prov = self.provisioned
        assert prov is not None
        sources: list[StreamEventSource] = stream_event_sources(template, self.resolve)
        for logical_id in dict.fromkeys(source.function_logical_id for source in sources):
            checkpoints = self.state_dir / STREAM_CHECKPOINTS_FILE.format(function=logical_id)
            legacy = self.state_dir / LEGACY_CHECKPOINTS_FILE
            if legacy.is_file() and not checkpoints.exists():  # keys are per function: reusable
                checkpoints.write_bytes(legacy.read_bytes())
            spec = {
                "document": template.document, "template_path": str(template.path),
                "resolve": self.resolve, "endpoint": prov.endpoint, "region": prov.region,
                "account_id": prov.account_id, "access_key_id": prov.access_key_id,
                "secret_access_key": prov.secret_access_key,
                "checkpoints": str(checkpoints),
                "poll_interval_s": self.stream_poll_interval, "stream_lag_s": self.stream_lag_s,
                "function": logical_id,
            }
            try:
                self.consumers.append(ConsumerProcess.start(
                    spec=spec,
                    spec_path=self.state_dir / CONSUMERS_SPEC_FILE.format(function=logical_id),
                    sources=[s for s in sources if s.function_logical_id == logical_id],
                    env=worker_environment(self._function_config(template, logical_id))))
            except ConsumerStartError as exc:
                raise LocalStackError(str(exc)) from exc
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / LEGACY_CHECKPOINTS_FILE).unlink()


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


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cloudchat_local.dev",
        description="Run CloudChat locally: moto + the AppSync emulator with the real resolvers.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"HTTP /graphql and WS /graphql/realtime (default {DEFAULT_PORT}; 0: any)")
    parser.add_argument("--tls-port", type=int, default=DEFAULT_TLS_PORT,
                        help=f"HTTPS/WSS with a self-signed certificate (default {DEFAULT_TLS_PORT}; 0: any)")
    parser.add_argument("--no-tls", action="store_true", help="serve plain HTTP/WS only")
    parser.add_argument("--moto-port", type=int, default=DEFAULT_MOTO_PORT,
                        help=f"moto: Cognito, DynamoDB, KMS ... (default {DEFAULT_MOTO_PORT}; 0: any)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where state is kept (default .cloudchat/state in the repository)")
    parser.add_argument("--outputs", type=Path, default=None,
                        help="outputs file (default: outputs.json next to the state dir)")
    parser.add_argument("--fresh", action="store_true", help="start with empty AWS state")
    parser.add_argument("--no-seed", action="store_true", help="do not create the demo conversation")
    parser.add_argument("--template", type=Path, default=None, help="template.yaml to run")
    parser.add_argument("--max-concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY,
                        help="worker processes per function at most, as Lambda's concurrency "
                             f"(default {DEFAULT_MAX_CONCURRENCY})")
    parser.add_argument("--stream-lag", type=float, default=0.0, metavar="SECONDS",
                        help="deliver each stream record to its consumer no sooner than this "
                             "after it was written, as Lambda lags the table (default 0)")
    parser.add_argument("--gsi-lag", type=float, default=DEFAULT_GSI_LAG_S, metavar="SECONDS",
                        help="GSI reads lag the table by this much, as they may on AWS "
                             f"(default {DEFAULT_GSI_LAG_S}; 0: always current)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    ports = [("--port", args.port), ("--moto-port", args.moto_port)]
    if not args.no_tls:
        ports.append(("--tls-port", args.tls_port))
    for name, value in ports:
        if not 0 <= value <= 65535:
            print(f"cloudchat dev: {name} must be 0..65535", file=sys.stderr)
            return 2
    if args.max_concurrency < 1:
        print("cloudchat dev: --max-concurrency must be at least 1", file=sys.stderr)
        return 2
    if args.stream_lag < 0:
        print("cloudchat dev: --stream-lag must be >= 0", file=sys.stderr)
        return 2
    if args.gsi_lag < 0:
        print("cloudchat dev: --gsi-lag must be >= 0", file=sys.stderr)
        return 2
    chosen = [value for _, value in ports if value]
    if len(chosen) != len(set(chosen)):
        print("cloudchat dev: --port, --tls-port and --moto-port must differ", file=sys.stderr)
        return 2
    # Powertools warns on every invocation of a handler that publishes no metric.
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    configure_logging(logging.INFO if args.verbose else logging.WARNING)
    stop = threading.Event()
    ready = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        if not ready.is_set():
            raise Interrupted()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: thread dump

    def say(text: str) -> None:
        print(text, flush=True)

    stack = LocalStack(
        args.state_dir,
        port=args.port,
        tls_port=None if args.no_tls else args.tls_port,
        moto_port=args.moto_port,
        fresh=args.fresh,
        seed=not args.no_seed,
        outputs_path=args.outputs,
        template_path=args.template,
        max_concurrency=args.max_concurrency,
        stream_lag_s=args.stream_lag,
        say=say,
        gsi_lag_s=args.gsi_lag,
    )
    say("Starting the CloudChat local stack ...")
    started = time.monotonic()
    try:
        stack.start()
        ready.set()
        settle()  # the garbage collector: see cloudchat_local._gc
    except Interrupted:
        print("cloudchat dev: interrupted while starting", file=sys.stderr)
        return 130
    except LocalStackError as exc:
        print(f"cloudchat dev: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ProvisionError, TemplateError, SeedError) as exc:
        print(f"cloudchat dev: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except EmulatorError as exc:
        print(f"cloudchat dev: {exc}", file=sys.stderr)
        return 1
    say(banner(stack.outputs, stack.outputs_path))
    say(f"(started in {time.monotonic() - started:.1f} s)")
    reason = stack.wait(stop)
    if reason:
        print(f"cloudchat dev: {reason}", file=sys.stderr)
    say("Stopping ...")
    stack.stop()
    say(f"Stopped. State saved in {stack.state_dir}.")
    return 1 if reason else 0


if __name__ == "__main__":
    sys.exit(main())
