"""A tracking server that misbehaves on purpose: it speaks MLflow's REST paths for one registered
model (`wine@champion`, version 1, at `mlflow-artifacts:/0/m`) and answers them as `behaviour`
says — a byte at a time, too large, with endless folders, with more bytes than it listed."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

import orjson

ALIAS = "/api/2.0/mlflow/registered-models/alias"
DOWNLOAD_URI = "/api/2.0/mlflow/model-versions/get-download-uri"
LISTING = "/api/2.0/mlflow-artifacts/artifacts"
FILE = "/api/2.0/mlflow-artifacts/artifacts/0/m/model.skops"
BEHAVIOURS = ("drip", "huge alias", "long error", "endless folders", "longer than listed", "unsized")


class HostileTracking:
    def __init__(self, behaviour: str, file_bytes: int = 48 * 1024 * 1024):
        assert behaviour in BEHAVIOURS, behaviour
        self.behaviour, self.file_bytes = behaviour, file_bytes
        self.calls: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()  # headers and body go out as they are written, not 40 ms apart
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                path = urlsplit(self.path).path
                hostile.calls.append(path)
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                try:
                    hostile.answer(self, path, query)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the function hung up: what the bounds are for

            def log_message(self, *args):
                pass

        return Handler

    def answer(self, handler, path: str, query: dict[str, str]) -> None:
        behaviour = self.behaviour
        if path == ALIAS:
            version = {"model_version": {"name": "wine", "version": "1", "source": ""}}
            if behaviour == "drip":
                return _drip(handler, orjson.dumps(version))
            if behaviour == "huge alias":
                version["model_version"]["padding"] = "x" * (16 * 1024 * 1024)
            if behaviour == "long error":
                message = "the registry is down for maintenance; " + "details " * 700_000
                return _json(handler, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": message}, 400)
            return _json(handler, version)
        if path == DOWNLOAD_URI:
            return _json(handler, {"artifact_uri": "mlflow-artifacts:/0/m"})
        if path == LISTING:
            if behaviour == "endless folders":
                return _json(handler, {"files": [{"path": "deeper", "is_dir": True}]})
            entry = {"path": "model.skops", "is_dir": False}
            if behaviour != "unsized":
                entry["file_size"] = 1000
            files = [entry] if query.get("path") == "0/m" else []
            return _json(handler, {"files": files})
        if path == FILE:
            return self._file(handler)
        _json(handler, {"error_code": "NOT_FOUND", "message": path}, 404)

    def _file(self, handler) -> None:
        """file_bytes of a file listed as 1,000 bytes (or not sized), chunked: no Content-Length."""
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        piece = b"\0" * (1024 * 1024)
        for start in range(0, self.file_bytes, len(piece)):
            part = piece[: self.file_bytes - start]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        handler.wfile.write(b"0\r\n\r\n")


def _json(handler, value, status: int = 200) -> None:
    body = orjson.dumps(value)
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _drip(handler, body: bytes) -> None:
    """A whole answer, one byte every half second: each read is quick, the answer is not."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    for byte in body:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.5)
