"""Tiny HTTP backends that answer like Istio's helloworld sample pods.

Each backend listens on its own loopback address (127.0.0.11, 127.0.0.12, ... stand in for pod
IPs, matching the lab's EDS endpoints) and answers every GET with
``Hello version: v1, instance: helloworld-v1-<hash>``, so a client can tell which pod served it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from stickyctl.lab.xds import Endpoint


def pod_name(workload: str, address: str) -> str:
    """A stable Kubernetes-style pod name (``<workload>-<rs-hash>-<suffix>``) for an address."""
    digest = hashlib.sha256(f"{workload}@{address}".encode()).hexdigest()
    return f"{workload}-{digest[:10]}-{digest[10:15]}"


@dataclass(frozen=True)
class BackendSpec:
    address: str
    port: int
    version: str
    instance: str

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint) -> BackendSpec:
        return cls(endpoint.address, endpoint.port, endpoint.revision, pod_name(endpoint.workload, endpoint.address))

    @property
    def body(self) -> str:
        return f"Hello version: {self.version}, instance: {self.instance}\n"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        backend = self.server.backend
        backend.count()
        body = backend.spec.body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        super().__init__((backend.spec.address, backend.spec.port), _Handler)


class Backend:
    """One helloworld pod: an HTTP server in a thread; ``requests`` counts what it served."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self.requests = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def count(self) -> None:
        with self._lock:
            self.requests += 1

    def start(self) -> None:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
            name=f"backend-{self.spec.address}",
        )  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class BackendPool:
    """Several backends started and stopped together (a context manager)."""

    def __init__(self, specs: Iterable[BackendSpec]) -> None:
        self.backends = [Backend(s) for s in specs]

    def start(self) -> None:
        try:
            for b in self.backends:
                b.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for b in self.backends:
            b.stop()

    def by_address(self, address: str) -> Backend:
        for b in self.backends:
            if b.spec.address == address:
                return b
        raise KeyError(address)

    def __enter__(self) -> BackendPool:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
