"""moto server's request handler, answering HTTP/1.1 with keep-alive.

**What moto does.** moto server runs on werkzeug's development server, whose handler closes
the connection after every request (since werkzeug 2.1 its ``run_wsgi`` always sends
``Connection: close`` and drains the socket: https://github.com/pallets/werkzeug/pull/2399),
so every AWS call from the local stack paid for a new TCP connection, and the server for a
new thread.

**What we change.** A subclass of moto's ``MotoRequestHandler`` reads the request body exactly
(``Content-Length`` or chunked), runs the app, and answers with a ``Content-Length`` in one
write, so the connection carries the next request. It closes the connection when the client
asks to, after an error, or after ``IDLE_TIMEOUT_S`` idle. (A maintained WSGI server was
measured against it: docs/performance.md.)

**Upstream.** Not a moto bug (werkzeug's server is a development server by design).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any, Final

log = logging.getLogger("cloudchat_local.moto")

#: How long a keep-alive connection may stay idle before the server closes it (and its thread
#: ends). Clients check a pooled connection before reusing it, and retry if it was closed.
IDLE_TIMEOUT_S: Final = 75.0
_NO_BODY_STATUS: Final = frozenset({204, 304})


def keep_alive_handler() -> type:
    """moto's request handler answering HTTP/1.1 with keep-alive.

    werkzeug's handler closes the connection after every request (its ``run_wsgi`` always
    sends ``Connection: close`` and then drains the socket), so every AWS call from the local
    stack paid for a new TCP connection and the server for a new thread. This one reads the
    request body exactly (``Content-Length`` or chunked), runs the app, and answers with a
    ``Content-Length`` in one write, so the connection can carry the next request. It closes
    the connection when the client asks to, after an error, or after ``IDLE_TIMEOUT_S`` idle.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    _werkzeug_log = logging.getLogger("werkzeug")

    class KeepAliveHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT_S

        def run_wsgi(self) -> None:
            environ = self.environ = self.make_environ()
            if environ.get("wsgi.input_terminated"):  # chunked: read to its last chunk
                body = environ["wsgi.input"].read()
            else:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                if len(body) < length:  # the client went away mid-body
                    self.close_connection = True
                    return
            environ["wsgi.input"] = io.BytesIO(body)
            status, headers, chunks = self._call_app(environ)
            code = int(status.split(None, 1)[0])
            payload = b"".join(chunks)
            lines = [f"{self.protocol_version} {status}", f"Server: {self.version_string()}",
                     f"Date: {self.date_time_string()}"]
            length_sent = None
            for key, value in headers:
                lower = key.lower()
                if lower in ("connection", "transfer-encoding"):
                    continue
                if lower == "content-length":
                    length_sent = value
                lines.append(f"{key}: {value}")
            if code < 200 or code in _NO_BODY_STATUS:
                payload = b""
            elif self.command == "HEAD":
                payload = b""  # moto sets the object's Content-Length itself
            elif length_sent is None:
                lines.append(f"Content-Length: {len(payload)}")
            elif length_sent.strip() != str(len(payload)):
                self.close_connection = True  # the length is the app's: end the body by closing
            if self.close_connection:
                lines.append("Connection: close")
            elif self.request_version == "HTTP/1.0":
                lines.append("Connection: keep-alive")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
            self.wfile.write(head + payload)
            if _werkzeug_log.isEnabledFor(logging.INFO):  # (werkzeug's access log)
                self.log_request(code, len(payload))

        def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
            started: list[Any] = []
            written: list[bytes] = []

            def start_response(status: str, headers: list[tuple[str, str]],
                               exc_info: Any = None) -> Callable[[bytes], None]:
                started[:] = [status, headers]
                return written.append

            try:
                result = self.server.app(environ, start_response)
                try:
                    written.extend(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                if not started:
                    raise RuntimeError("the application did not call start_response")
            except Exception:
                log.exception("moto failed on %s %s", self.command, self.path)
                self.close_connection = True
                body = b"Internal Server Error\n"
                return ("500 Internal Server Error",
                        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))], [body])
            return started[0], started[1], written

        def log_error(self, format: str, *args: Any) -> None:
            if format.startswith("Request timed out"):
                return  # an idle keep-alive connection expired: nothing went wrong
            super().log_error(format, *args)  # werkzeug's "werkzeug" logger

    return KeepAliveHandler

