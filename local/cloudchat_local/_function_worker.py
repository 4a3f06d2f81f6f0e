"""One Lambda execution environment of one template function: the child side of
:mod:`cloudchat_local._functions`.

    python -m cloudchat_local._function_worker <module> <attr>

The parent builds this process's environment from scratch (the function's template
environment, what Lambda's runtime sets, the local stack's plumbing: nothing else). The worker
imports the handler once (Lambda's Init phase), answers ``{"ready": true}`` (or the init error)
and then serves one invocation at a time, as an execution environment does: its module state,
clients and caches stay warm between invocations, and are its own.

Protocol, length-prefixed JSON frames (:func:`send_frame`, :func:`read_frame`): requests on
stdin ``{"event", "context": {"aws_request_id", "invoked_function_arn", "remaining_ms"}}``,
answers on the original stdout ``{"result": ...}`` or ``{"error": {"errorType",
"errorMessage", "stackTrace"}}`` (the shape of Lambda's unhandled-error payload). Once
ready, fd 1 is pointed at stderr, so what the handler prints (Powertools logs JSON to stdout)
goes to the log, never into the protocol. End of file on stdin (the parent closed it, or
died) stops the worker; the parent kills it when an invocation outlives the function's timeout.
"""

from __future__ import annotations

import json
import os
import select
import struct
import sys
import time
import traceback
import warnings
from typing import Any, BinaryIO, Final

from cloudchat_local._runtime import configure_logging, load_handler
from cloudchat_local.errors import FrameError, HandlerError

_HEADER: Final = struct.Struct(">I")
MAX_FRAME: Final = 64 * 1024 * 1024


# =========================================================================== framing


def send_frame(fd: int, message: Any) -> None:
    """Writes ``message`` as one frame (4-byte big-endian length, then UTF-8 JSON)."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_frame(fd: int, deadline: float | None = None) -> Any:
    """One frame from ``fd``. TimeoutError when ``deadline`` (time.monotonic()) passes
    first; FrameError at end of file."""
    (length,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    if length > MAX_FRAME:
        raise FrameError(f"a frame of {length} bytes")
    return json.loads(_read_exactly(fd, length, deadline))


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise FrameError("end of file")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# =========================================================================== the runtime


class Context:
    """The Python Lambda context object (what handlers and Powertools use)."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.aws_request_id = str(request["aws_request_id"])
        self.invoked_function_arn = str(request["invoked_function_arn"])
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + float(request["remaining_ms"]) / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    """Lambda's payload for a failed invocation."""
    return {"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}


def _unhandled(exc: BaseException, context: Context | None) -> dict[str, Any]:
    """The handler raised: logged as Lambda logs it (``[ERROR]`` line and traceback), and
    answered with Lambda's error shape."""
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    request = f" (request {context.aws_request_id})" if context is not None else ""
    print(f"[ERROR] {type(exc).__name__}: {exc}{request}\n"
          + "".join(traceback.format_exception(exc)), file=sys.stderr, flush=True)
    return {"error": error_payload(type(exc).__name__, str(exc), stack)}


def _invoke(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    context = Context(request["context"])
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        return _unhandled(exc, context)
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return {"error": error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}")}
    return {"result": result}


def serve(handler: Any, requests: int, answers: int) -> None:
    """One invocation at a time until end of file on ``requests``."""
    while True:
        try:
            request = read_frame(requests)
        except FrameError:
            return
        send_frame(answers, _invoke(handler, request))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m cloudchat_local._function_worker <module> <attr> <log level>",
              file=sys.stderr)
        return 2
    module, attr, level = args
    answers = os.dup(1)  # the protocol channel; fd 1 becomes stderr (handlers print, log)
    os.dup2(2, 1)
    configure_logging(int(level))
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    try:
        handler = load_handler(module, attr)
    except HandlerError as exc:
        error_type = "Runtime.ImportModuleError" if isinstance(exc.__cause__, ImportError) \
            else "Runtime.HandlerNotFound"
        send_frame(answers, {"error": error_payload(error_type, str(exc))})
        return 1
    except Exception as exc:  # the module raised while importing (Lambda: an init error)
        send_frame(answers, _unhandled(exc, None))
        return 1
    from cloudchat_local._gc import settle

    settle()
    send_frame(answers, {"ready": True})
    stdin: BinaryIO = sys.stdin.buffer
    serve(handler, stdin.fileno(), answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
