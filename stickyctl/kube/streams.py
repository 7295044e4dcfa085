"""Websocket subresources of a pod: port-forward (through a local relay socket) and exec.

Port-forward speaks the channel protocol the kubelet speaks over websockets
(``v4.channel.k8s.io`` / ``portforward.k8s.io``): per forwarded port a data channel (0) and an
error channel (1), each opened by a frame holding the port number (2 bytes, little-endian), then
``[channel byte] + payload`` frames. A failure to reach the pod's port arrives as text on the
error channel (e.g. "... dial tcp4 127.0.0.1:15000: connect: connection refused").

The relay is a loopback TCP listener: each connection accepted there becomes one port-forward
stream, so the HTTP side can be plain httpx (``AdminClient``) and respx in unit tests. Nothing
else can use it: it listens on 127.0.0.1 on a random port and lives only as long as one target's
fetch.

Exec speaks ``v5.channel.k8s.io`` / ``v4.channel.k8s.io``: stdout (1), stderr (2) and the exit
status as a Status document on channel 3.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stickyctl.kube.client import Access, ApiNotFound, Cluster, KubeError

PORTFORWARD_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class _Stream:
    def __init__(self, conn: socket.socket, ws: Any) -> None:
        self.conn = conn
        self.ws = ws
        self.local_done = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.shutdown()
        with contextlib.suppress(OSError):
            self.conn.close()


def local_socket_options(conn: socket.socket) -> None:
    """Options of a relay connection, as kubectl port-forward's local connections have them (Go sets
    TCP_NODELAY on every TCP connection). Without it, a response the API server delivers in more than
    one frame (the kubelet frames the pod's bytes as it reads them) is written here in as many sends,
    and each send after the first waits for the client's delayed ACK: about 40 ms a request on Linux,
    nine requests a pod (measured with a fake API server splitting each response in two: 315 ms a pod
    instead of 15; benchmarks/live_fleet.py's framing row)."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PortForwardRelay:
    """``http://127.0.0.1:<random port>`` in front of ``pods/<pod>/portforward?ports=<port>``."""

    def __init__(self, cluster: Cluster, namespace: str, pod: str, port: int) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.pod = pod
        self.port = port
        self.errors: list[str] = []
        """What went wrong on the way (handshake refused, kubelet error, stream lost), in order."""
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._streams: list[_Stream] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.local_port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, name=f"stickyctl relay {namespace}/{pod}", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    @property
    def what(self) -> str:
        return f"port-forward to pod {self.namespace}/{self.pod} port {self.port}"

    def _fail(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            streams, self._streams = self._streams, []
        for s in streams:
            s.close()

    def __enter__(self) -> PortForwardRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            local_socket_options(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            ws = self.cluster.websocket(
                f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/portforward",
                [("ports", str(self.port))],
                protocols=PORTFORWARD_PROTOCOLS,
                access=Access("create", "pods/portforward", self.namespace),
                what=self.what,
            )
        except ApiNotFound:
            self._fail(f"{self.what}: the pod no longer exists (deleted after it was listed?)")
            with contextlib.suppress(OSError):
                conn.close()
            return
        except KubeError as exc:
            self._fail(str(exc))
            with contextlib.suppress(OSError):
                conn.close()
            return
        except Exception as exc:  # never let a relay thread print a traceback
            self._fail(f"{self.what}: {_reason(exc)}")
            with contextlib.suppress(OSError):
                conn.close()
            return
        stream = _Stream(conn, ws)
        with self._lock:
            if self._closed.is_set():
                stream.close()
                return
            self._streams.append(stream)
        self._pump(stream)

    def _pump(self, stream: _Stream) -> None:
        """Both directions on one thread (an SSL socket must not be read and written concurrently):
        local client -> pod on data channel 0; pod -> local client; the error channel ends the stream
        with the kubelet's message."""
        import select
        import ssl

        import websocket as wsc

        initialized = [False, False]
        raw: socket.socket = stream.ws.sock
        try:
            while not self._closed.is_set():
                readable: list[socket.socket]
                if isinstance(raw, ssl.SSLSocket) and raw.pending():
                    readable = [raw]
                else:
                    readable, _, _ = select.select([raw, stream.conn], [], [], 0.5)
                if stream.conn in readable:
                    data = stream.conn.recv(65536)
                    if not data:
                        stream.local_done = True
                        return
                    stream.ws.send_binary(b"\x00" + data)
                if raw not in readable:
                    continue
                opcode, frame = stream.ws.recv_data_frame(True)
                if opcode == wsc.ABNF.OPCODE_CLOSE:
                    return
                if opcode not in (wsc.ABNF.OPCODE_BINARY, wsc.ABNF.OPCODE_TEXT) or not frame.data:
                    continue
                data = bytes(frame.data)
                channel, payload = data[0], data[1:]
                if channel in (0, 1) and not initialized[channel]:
                    # The first frame of each channel names the port (2 bytes, little-endian).
                    initialized[channel] = True
                    payload = payload[2:]
                    if not payload:
                        continue
                if channel == 0:
                    stream.conn.sendall(payload)
                elif channel == 1:
                    text = payload.decode("utf-8", "replace").strip()
                    self._fail(f"{self.what} failed: {text}")
                    return
        except Exception as exc:
            if not stream.local_done and not self._closed.is_set():
                self._fail(f"{self.what}: the stream was cut mid-transfer ({_reason(exc)})")
        finally:
            stream.close()
            with self._lock, contextlib.suppress(ValueError):
                self._streams.remove(stream)


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


def exec_command(cluster: Cluster, namespace: str, pod: str, container: str, command: Sequence[str], *,
                 timeout: float) -> ExecResult:
    """Run ``command`` in a container (``pods/exec``) and collect its output and exit status."""
    import msgspec
    import websocket as wsc

    what = f"exec in pod {namespace}/{pod} container {container}"
    query = [("container", container), ("stdout", "true"), ("stderr", "true")]
    query += [("command", c) for c in command]
    ws: Any = cluster.websocket(
        f"/api/v1/namespaces/{namespace}/pods/{pod}/exec", query, protocols=EXEC_PROTOCOLS,
        access=Access("create", "pods/exec", namespace), what=what,
    )
    deadline = time.monotonic() + timeout
    stdout, stderr = bytearray(), bytearray()
    status: bytes | None = None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KubeError(f"{what}: no result within {timeout:g}s")
            ws.settimeout(left)
            try:
                opcode, frame = ws.recv_data_frame(True)
            except wsc.WebSocketConnectionClosedException:
                break
            except (wsc.WebSocketTimeoutException, TimeoutError):
                raise KubeError(f"{what}: no result within {timeout:g}s") from None
            except (wsc.WebSocketException, OSError) as exc:
                raise KubeError(f"{what}: the stream was cut ({_reason(exc)})") from None
            if opcode == wsc.ABNF.OPCODE_CLOSE:
                break
            if opcode not in (wsc.ABNF.OPCODE_BINARY, wsc.ABNF.OPCODE_TEXT) or not frame.data:
                continue
            data = bytes(frame.data)
            channel, payload = data[0], data[1:]
            if channel == 1:
                stdout += payload
            elif channel == 2:
                stderr += payload
            elif channel == 3:
                status = payload
    finally:
        with contextlib.suppress(Exception):
            ws.shutdown()
    if status is None:
        raise KubeError(f"{what}: the stream ended without an exit status")
    try:
        doc: Any = msgspec.json.decode(status)
    except msgspec.DecodeError:
        raise KubeError(f"{what}: unreadable exit status") from None
    if not isinstance(doc, dict) or doc.get("status") == "Success":
        return ExecResult(0, bytes(stdout), bytes(stderr))
    if doc.get("reason") == "NonZeroExitCode":
        for cause in (doc.get("details") or {}).get("causes") or []:
            if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
                with contextlib.suppress(TypeError, ValueError):
                    return ExecResult(int(str(cause.get("message"))), bytes(stdout), bytes(stderr))
        return ExecResult(1, bytes(stdout), bytes(stderr))
    raise KubeError(f"{what}: {doc.get('message') or 'failed'}")
