"""A webhook receiver on loopback: it records every call and answers with the statuses it is told to."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterable


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST (headers, body) and answers ``statuses`` in turn, then 200."""

    def __init__(self, statuses: Iterable[int] = (), port: int = 0) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses)
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                with receiver.arrived:
                    receiver.calls.append(({key.lower(): value for key, value in self.headers.items()}, body))
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout_s: float = 60.0) -> list[tuple[dict[str, str], bytes]]:
        """The calls once ``count`` have arrived; AssertionError after ``timeout_s``."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.calls) >= count, timeout_s):
                raise AssertionError(f"{len(self.calls)} webhook call(s) arrived, {count} expected")
            return list(self.calls)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
