"""A proxy in front of the GCS emulator or an MLflow tracking server that records what the
function asks for and can inject faults: 5xx bursts, connection resets, stalls, truncated and
corrupted bodies. "Media" requests are file downloads: GCS's `alt=media` GETs and the tracking
server's artifact downloads."""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
FAULTS = ("503", "reset", "stall", "truncate", "corrupt")
MLFLOW_DOWNLOADS = "/api/2.0/mlflow-artifacts/artifacts/"


class FaultProxy:
    """Forwards every request to `upstream` (http://host:port) and records (method, path, query)."""

    def __init__(self, upstream: str, stall_seconds: float = 10.0):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.upstream_url = upstream.rstrip("/").encode()
        self.stall_seconds = stall_seconds
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self._faults: list[list] = []  # [kind, remaining (None: until cleared), media only, path end]
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(
        self, kind: str, times: int | None = 1, media_only: bool = True, path_end: str = "", skip: int = 0
    ) -> None:
        """Answer the next `times` matching requests (None: all, until `clear`) with a fault;
        `path_end`: only requests whose path ends so; `skip`: let that many matching ones pass first."""
        assert kind in FAULTS, kind
        with self._lock:
            self._faults.append([kind, times, media_only, path_end, skip])

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def media_downloads(self, object_name: str) -> int:
        """How many times the bytes of `object_name` were asked for (`alt=media` GETs)."""
        with self._lock:
            return sum(
                1
                for method, path, query in self.requests
                if method == "GET"
                and query.get("alt") == ["media"]
                and unquote(path).endswith("/o/" + object_name)
            )

    def _next_fault(self, is_media: bool, path: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                kind, remaining, media_only, path_end, skip = fault
                if (media_only and not is_media) or not path.endswith(path_end):
                    continue
                if skip:
                    fault[4] -= 1
                    return None
                if remaining is not None:
                    fault[1] -= 1
                    if fault[1] == 0:
                        self._faults.remove(fault)
                return kind
        return None

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with proxy._lock:
                    proxy.requests.append((self.command, parts.path, query))
                    proxy.authorizations.append(self.headers.get("Authorization"))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy._next_fault(
                    query.get("alt") == ["media"] or parts.path.startswith(MLFLOW_DOWNLOADS),
                    unquote(parts.path),
                )
                if fault == "reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "stall":
                    time.sleep(proxy.stall_seconds)
                if fault == "503":
                    self._reply(503, [("Content-Type", "application/json")], b'{"error": {"code": 503}}')
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body, headers)
                reply = upstream.getresponse()
                # the emulator's metadata names its own address in mediaLink/selfLink: point
                # those at the proxy too, so media downloads pass through here as well
                data = reply.read().replace(proxy.upstream_url, proxy.url.encode())
                upstream.close()
                if fault == "truncate":
                    data = data[: len(data) // 2]
                elif fault == "corrupt":
                    data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
                kept = [(k, v) for k, v in reply.getheaders() if k.lower() not in HOP_BY_HOP]
                self._reply(reply.status, kept, data)

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        return Handler
