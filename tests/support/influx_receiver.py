"""A real HTTP server that answers InfluxDB's write endpoints with scripted statuses (429, 503,
...),
which a healthy InfluxDB cannot be made to return on demand. It records every request it gets."""

from __future__ import annotations

import gzip
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.ports import free_port

_SHOW_DATABASES = (
    b'{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],'
    b'"values":[["minewatch"]]}]}]}'
)


@dataclass
class Scripted:
    """``replies``: (status, headers) answered to successive writes; 204 once they run out. A header
    ``X-Delay-S`` makes the server wait that long before answering."""

    replies: deque[tuple[int, dict[str, str]]]
    writes: list[tuple[str, bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_scripted(replies: list[tuple[int, dict[str, str]]]) -> Scripted:
    state = Scripted(deque(replies))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.startswith("/query"):
                self._answer(200, {"Content-Type": "application/json"}, _SHOW_DATABASES)
                return
            state.writes.append((self.path, body))
            status, headers = state.replies.popleft() if state.replies else (204, {})
            if "X-Delay-S" in headers:  # a server that takes too long to answer
                time.sleep(float(headers["X-Delay-S"]))
            self._answer(
                status,
                headers,
                b'{"code":"too many requests","message":"slow down"}' if status >= 400 else b"",
            )

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (
                BrokenPipeError,
                ConnectionResetError,
            ):  # the client gave up waiting (timeout test)
                pass

    state.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(
        target=state.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return state
