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
import faulthandler
import logging
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from types import FrameType

from cloudchat_local._functions import DEFAULT_MAX_CONCURRENCY
from cloudchat_local._gc import settle
from cloudchat_local._outputs import banner
from cloudchat_local._runtime import configure_logging
from cloudchat_local._stack import LocalStack, start
from cloudchat_local._stack_settings import (
    DEFAULT_GSI_LAG_S,
    DEFAULT_MOTO_PORT,
    DEFAULT_PORT,
    DEFAULT_STATE_DIR,
    DEFAULT_TLS_PORT,
    LEGACY_CHECKPOINTS_FILE,
    MOTO_STATE_FILE,
    READY_LINE,
    STREAM_CHECKPOINTS_FILE,
)
from cloudchat_local.errors import (
    EmulatorError,
    Interrupted,
    LocalStackError,
    PortInUse,
    ProvisionError,
    SeedError,
    StateDirBusy,
    TemplateError,
)
from cloudchat_local.iam import USAGE_FILE as IAM_USAGE_FILE

__all__ = [
    "DEFAULT_GSI_LAG_S",
    "DEFAULT_MOTO_PORT",
    "DEFAULT_PORT",
    "DEFAULT_STATE_DIR",
    "DEFAULT_TLS_PORT",
    "IAM_USAGE_FILE",
    "LEGACY_CHECKPOINTS_FILE",
    "MOTO_STATE_FILE",
    "READY_LINE",
    "STREAM_CHECKPOINTS_FILE",
    "LocalStack",
    "LocalStackError",
    "PortInUse",
    "StateDirBusy",
    "main",
    "start",
]


def _parameter(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--parameter``."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


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
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        type=_parameter,
                        help="a template parameter's value instead of its default, as sam deploy "
                             "--parameter-overrides (repeatable), e.g. MaxGroupMembers=3000")
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
        parameters=dict(args.parameter),
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
