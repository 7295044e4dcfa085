"""Loopback HTTP endpoints for fault and secrets tests: misbehaving "admin APIs" and a recording proxy.

:class:`FaultServer` accepts connections on 127.0.0.x and answers each request one bad way (a
slow-loris that dribbles bytes, a web page, a 500, a redirect elsewhere, invalid JSON, bytes that are
not HTTP, silence, a reset, an endless or compressed-bomb body). :class:`RecordingProxy` sits in
front of a real Envoy's admin API and records the method and path of every request it forwards.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("loris-body", "loris-headers", "html", "status-500", "redirect", "bad-json", "not-http", "silent", "reset",
          "endless", "gzip-bomb", "json-not-dump")


@dataclass
class FaultServer:
    """``mode`` for every request; ``location`` for ``redirect``; ``drip`` seconds between bytes."""

    mode: str
    host: str = "127.0.0.1"
    location: str = "http://127.0.0.2:1/config_dump"
    drip: float = 0.2
    requests: list[bytes] = field(default_factory=list)
    port: int = 0
    _sock: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __enter__(self) -> FaultServer:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(32)
        sock.settimeout(0.1)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _dribble(self, conn: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if self._stop.is_set():
                return
            conn.sendall(data[i:i + 1])
            time.sleep(self.drip)

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            self.requests.append(request.split(b"\r\n", 1)[0])
            self._answer(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _answer(self, conn: socket.socket) -> None:
        mode = self.mode

        def respond(status: str, body: bytes, *headers: str) -> None:
            head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers, "", ""]
            conn.sendall("\r\n".join(head).encode() + body)

        if mode == "loris-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            self._dribble(conn, b'{"configs": [' + b" " * 100_000)
        elif mode == "loris-headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            self._dribble(conn, b"X-Slow: " + b"a" * 100_000)
        elif mode == "html":
            respond("200 OK", b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>",
                    "Content-Type: text/html")
        elif mode == "status-500":
            respond("500 Internal Server Error", b"upstream connect error", "Content-Type: text/plain")
        elif mode == "redirect":
            respond("302 Found", b"", f"Location: {self.location}")
        elif mode == "bad-json":
            respond("200 OK", b'{"configs": [{"@type": ', "Content-Type: application/json")
        elif mode == "json-not-dump":
            respond("200 OK", b'{"status": "ok", "configs": "none"}', "Content-Type: application/json")
        elif mode == "not-http":
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02")
        elif mode == "silent":
            self._stop.wait(30)
        elif mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "endless":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"{" * 65536
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            while not self._stop.is_set():
                conn.sendall(frame)
        elif mode == "gzip-bomb":
            body = gzip.compress(b"[" * (64 << 20), compresslevel=9)  # 64 MiB that compress to ~64 KiB
            respond("200 OK", body, "Content-Type: application/json", "Content-Encoding: gzip")
        else:  # pragma: no cover
            raise ValueError(mode)


@contextmanager
def fault_server(mode: str, **kw: Any) -> Iterator[FaultServer]:
    with FaultServer(mode, **kw) as server:
        yield server


# --- a recording proxy in front of a real admin API ----------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str


class RecordingProxy:
    """Forwards every request (any method) to ``upstream`` and records (method, path)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.log: list[Recorded] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.log.append(Recorded(self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body,
                                 headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self.log)

    def clear(self) -> None:
        with self._lock:
            self.log.clear()

    def __enter__(self) -> RecordingProxy:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
