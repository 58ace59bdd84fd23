"""A webhook receiver for the notification tests: a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A real HTTP receiver answering with the codes it is given, then 200; it keeps what
    it was sent (the Content-Type and the JSON body of each POST)."""

    def __init__(self, codes: list[int], port: int = 0) -> None:
        self.codes, self.bodies = codes, []  # type: list[int], list[dict[str, Any]]
        self.got = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append({"type": self.headers["Content-Type"], "body": body})
                self.send_response(outer.codes.pop(0) if outer.codes else 200)
                self.end_headers()
                outer.got.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
