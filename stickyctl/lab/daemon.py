"""The lab's supervisor: ``python -m stickyctl.lab.daemon --state-dir DIR [--ready-fd N]``.

Started by ``stickyctl lab up`` in a session of its own, it owns one Envoy (fed Istio-shaped xDS
from files, :mod:`stickyctl.lab.envoy`) and the helloworld backends (threads serving on
127.0.0.x:5000), and keeps them running until ``lab down``. Every change (``lab scale``, ``drain``,
``kill``) is applied the way an istiod push is: the xDS files are rewritten atomically, and the
answer is sent only once Envoy's ``/clusters`` shows the new endpoint set.

It reads ``spec.json`` from the state directory, holds ``lab.lock`` for its whole life (one lab
per directory), writes ``state.json`` once traffic flows, then serves one JSON request per
connection on its unix socket. On ``--ready-fd`` it writes one JSON line (``{"ok": true}`` or
``{"ok": false, "error": ...}``) and closes it, which is what ``lab up`` waits for.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

from stickyctl.lab import state as st
from stickyctl.lab.backends import Backend, BackendSpec, pod_name
from stickyctl.lab.envoy import LabEnvoy, LabError, start_gateway
from stickyctl.lab.manifests import write_yaml
from stickyctl.lab.scenarios import Design, DesignError, lab_design
from stickyctl.lab.xds import GatewayIdentity, XdsLayout

HEADER = "# Written by `stickyctl lab up`: the Kubernetes objects this lab stands for.\n"


class _Terminate(BaseException):
    """SIGTERM/SIGINT: stop everything and exit."""


class RequestError(Exception):
    def __init__(self, message: str, exit_status: int = 2) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _addresses() -> Iterator[str]:
    """Pod addresses as a CNI hands them out: 127.0.0.11 .. 254, then 127.0.2.1 .. (127.0.1.0/24 is
    where lab gateways bind)."""
    for last in range(11, 255):
        yield f"127.0.0.{last}"
    for third in range(2, 255):
        for last in range(1, 255):
            yield f"127.0.{third}.{last}"


class Supervisor:
    def __init__(self, state_dir: Path, spec: st.LabSpec) -> None:
        self.dir = state_dir
        self.spec = spec
        self.design: Design = lab_design(spec.mode, spec.breaks, strict=spec.strict)
        self.pods: list[st.Pod] = []
        self.backends: dict[str, Backend] = {}
        self.envoy: LabEnvoy | None = None
        self.layout = XdsLayout()
        self.lock: IO[str] | None = None
        self.server: socket.socket | None = None
        self.socket_path = st.socket_path(state_dir)
        self.created = 0
        self.addresses = _addresses()
        self.state: st.LabState | None = None

    # -- pods ----------------------------------------------------------------------------------

    def _new_pod(self) -> st.Pod:
        version = st.VERSIONS[self.created % len(st.VERSIONS)]
        in_use = {p.address for p in self.pods}
        for address in self.addresses:
            if address in in_use:
                continue
            spec = BackendSpec(address, st.POD_PORT, version, pod_name(f"helloworld-{version}", address))
            backend = Backend(spec)
            try:
                backend.start()
            except OSError as exc:  # taken (another lab), or not a local address on this system
                _log(f"pod address {address}:{st.POD_PORT} not usable: {exc}")
                continue
            self.created += 1
            self.backends[address] = backend
            pod = st.Pod(name=spec.instance, address=address, version=version)
            self.pods.append(pod)
            return pod
        raise RequestError("no free loopback address left for another pod", 3)

    def _stop_backend(self, pod: st.Pod) -> None:
        backend = self.backends.pop(pod.address, None)
        if backend is not None:
            pod.requests = backend.requests
            backend.stop()

    def _find(self, ref: str) -> st.Pod:
        ref = ref.strip()
        for pod in self.pods:
            if ref in (pod.name, pod.address, pod.upstream):
                return pod
        matches = [p for p in self.pods if p.name.startswith(ref)] if ref else []
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(f"{p.name} ({p.address})" for p in self.pods) or "none"
        what = "more than one pod matches" if matches else "no such pod"
        raise RequestError(f"{what}: {ref!r} (pods: {known})")

    def _endpoints(self) -> list[Any]:
        return [p.endpoint() for p in self.pods]

    # -- Envoy ---------------------------------------------------------------------------------

    def _push(self) -> dict[str, str]:
        assert self.envoy is not None and self.envoy.ports is not None
        results = self.envoy.push(self.design.build(self.envoy.ports, self.layout, self._endpoints()))
        rejected = [path for path, result in results.items() if result == "rejected"]
        if rejected and not self.design.expect_rejected:
            raise RequestError(f"Envoy rejected the update of {', '.join(rejected)} (see {self.dir / 'envoy'})", 3)
        self._wait_hosts()
        return dict(results)

    def _wait_hosts(self, timeout: float = 10.0) -> None:
        """Until Envoy's /clusters shows exactly the pods' endpoints with their EDS health."""
        assert self.envoy is not None
        want = {p.upstream: ("DRAINING" if p.status == "draining" else "HEALTHY") for p in self.pods
                if p.status != "draining" or self.design.keeps_draining}
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        while True:
            seen = {}
            for cluster in self.envoy.get_json("/clusters?format=json").get("cluster_statuses", []):
                for host in cluster.get("host_statuses", []):
                    sa = host.get("address", {}).get("socket_address", {})
                    upstream = f"{sa.get('address')}:{sa.get('port_value')}"
                    if sa.get("port_value") == st.POD_PORT:
                        seen[upstream] = str(host.get("health_status", {}).get("eds_health_status", "UNKNOWN"))
            if seen == want:
                return
            if time.monotonic() > deadline:
                raise RequestError(f"Envoy did not take the new endpoints within {timeout:g}s: {seen} != {want}", 3)
            time.sleep(0.03)

    def _wait_traffic(self, timeout: float = 15.0) -> None:
        assert self.envoy is not None and self.envoy.ports is not None
        ports = self.envoy.ports
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection(ports.address, ports.gateway, timeout=2.0)
            try:
                conn.request("GET", "/hello")
                response = conn.getresponse()
                body = response.read()
                if not self.design.serves_hello or (response.status == 200 and body.startswith(b"Hello version")):
                    return
                last = f"HTTP {response.status}: {body[:80]!r}"
            except (OSError, http.client.HTTPException) as exc:
                last = str(exc)
            finally:
                conn.close()
            time.sleep(0.05)
        raise LabError(f"no traffic through the gateway within {timeout:g}s (GET /hello: {last})")

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.lock = st.hold_lock(self.dir)
        if self.lock is None:
            raise RequestError(f"a lab is already running in {self.dir}")
        (self.dir / st.LAST_ERROR_FILE).unlink(missing_ok=True)
        _log(f"design: {self.design}")
        for _ in range(self.spec.replicas):
            self._new_pod()
        endpoints = self._endpoints()
        identity = GatewayIdentity(istio_version=self.design.istio_version)
        self.envoy = start_gateway(
            self.design.builder(endpoints),
            identity=identity,
            layout=self.layout,
            workdir=self.dir / st.ENVOY_DIR,
            envoy=self.spec.envoy,
        )
        _log(f"envoy pid {self.envoy.pid} admin {self.envoy.admin_address}")
        pushed = self.design.pushed_builder(endpoints)
        if pushed is not None:
            assert self.envoy.ports is not None
            results = self.envoy.push(pushed(self.envoy.ports, self.layout))
            _log(f"pushed: {results}")
            if any(r == "rejected" for r in results.values()) != self.design.expect_rejected:
                raise LabError(f"unexpected push result {results}")
        self._wait_hosts()
        self._wait_traffic()
        self._write_manifests()
        self._listen()
        self.state = self._make_state()
        st.write_json_atomic(self.dir / st.STATE_FILE, self.state.to_json())
        _log(f"ready: {self.state.gateway_url}")

    def _write_manifests(self) -> None:
        write_yaml(self.dir / st.SERVICES_FILE, self.design.services(), header=HEADER)
        for name, docs in self.design.extra_files().items():
            write_yaml(self.dir / name, docs, header=HEADER)

    def _listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            server.bind(self.socket_path)
        finally:
            os.umask(old)
        server.listen(8)
        self.server = server

    def _make_state(self) -> st.LabState:
        assert self.envoy is not None and self.envoy.ports is not None
        ports = self.envoy.ports
        istiod = self.dir / st.ISTIOD_FILE
        return st.LabState(
            state_dir=str(self.dir),
            pid=os.getpid(),
            envoy_pid=self.envoy.pid,
            gateway_url=f"http://{ports.address}:{ports.gateway}",
            admin_url=f"http://{ports.address}:{ports.admin}",
            services=str(self.dir / st.SERVICES_FILE),
            socket=self.socket_path,
            mode=self.spec.mode,
            breaks=list(self.spec.breaks),
            strict=self.spec.strict,
            started_at=time.time(),
            pods=self._pods_json(),
            istiod=str(istiod) if self.design.extra_files() else None,
            envoy=self.spec.envoy,
            log=str(self.dir / st.LOG_FILE),
        )

    def _pods_json(self) -> list[dict[str, Any]]:
        out = []
        for pod in self.pods:
            backend = self.backends.get(pod.address)
            if backend is not None:
                pod.requests = backend.requests
            doc = pod.to_json()
            if pod.status == "draining" and not self.design.keeps_draining:
                doc["eds_health_status"] = None  # istiod drops it from EDS for this label (STK0404)
            out.append(doc)
        return out

    def _save(self) -> dict[str, Any]:
        assert self.state is not None
        self.state.pods = self._pods_json()
        st.write_json_atomic(self.dir / st.STATE_FILE, self.state.to_json())
        return self.state.to_json()

    def serve(self) -> None:
        assert self.server is not None and self.envoy is not None
        while True:
            readable, _, _ = select.select([self.server], [], [], 0.5)
            if not self.envoy.running:
                raise LabError(f"envoy exited (see {self.dir / st.ENVOY_DIR / 'envoy.log'})")
            if not readable:
                continue
            conn, _ = self.server.accept()
            with conn:
                conn.settimeout(10.0)
                answer, stop = self._handle(conn)
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps(answer).encode() + b"\n")
            if stop:
                return

    def _handle(self, conn: socket.socket) -> tuple[dict[str, Any], bool]:
        try:
            data = b""
            while not data.endswith(b"\n") and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            req = json.loads(data or b"null")
            if not isinstance(req, dict):
                raise RequestError("bad request")
            op = req.get("op")
            _log(f"request: {req}")
            if op == "down":
                return {"ok": True, "pids": [os.getpid(), self.envoy.pid if self.envoy else None]}, True
            if op == "status":
                return {"ok": True, "state": self._save()}, False
            if op == "scale":
                self._scale(int(req["replicas"]))
            elif op == "drain":
                self._drain(str(req["pod"]))
            elif op == "kill":
                self._kill(str(req["pod"]), bool(req.get("keep_endpoint")))
            else:
                raise RequestError(f"unknown request {op!r}")
            return {"ok": True, "state": self._save()}, False
        except RequestError as exc:
            return {"ok": False, "error": str(exc), "exit": exc.exit_status}, False
        except LabError as exc:
            return {"ok": False, "error": str(exc).splitlines()[0], "exit": 3}, False
        except (ValueError, KeyError, TypeError, OSError) as exc:
            _log(traceback.format_exc())
            return {"ok": False, "error": f"bad request: {exc}", "exit": 2}, False

    def _scale(self, replicas: int) -> None:
        if not 0 <= replicas <= st.MAX_REPLICAS:
            raise RequestError(f"replicas must be between 0 and {st.MAX_REPLICAS}")
        serving = [p for p in self.pods if p.status == "serving"]
        removed: list[st.Pod] = []
        if replicas > len(serving):
            for _ in range(replicas - len(serving)):
                self._new_pod()
        else:
            removed = serving[replicas:]  # the newest go first
            self.pods = [p for p in self.pods if p not in removed]
        self._push()
        for pod in removed:  # endpoint gone from EDS first, then the pod ends
            self._stop_backend(pod)

    def _drain(self, ref: str) -> None:
        pod = self._find(ref)
        if pod.status == "killed":
            raise RequestError(f"pod {pod.name} is killed; nothing to drain")
        pod.status = "draining"
        self._push()

    def _kill(self, ref: str, keep_endpoint: bool) -> None:
        pod = self._find(ref)
        self._stop_backend(pod)
        if keep_endpoint:
            pod.status = "killed"
        else:
            self.pods.remove(pod)
        self._push()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
            if self.socket_path != str(self.dir / st.SOCKET_FILE):
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.dirname(self.socket_path))
        if self.envoy is not None:
            self.envoy.stop()
            self.envoy = None
        for pod in list(self.pods):
            self._stop_backend(pod)
        for backend in self.backends.values():
            backend.stop()
        self.backends.clear()
        if self.lock is not None:
            (self.dir / st.STATE_FILE).unlink(missing_ok=True)
            self.lock.close()
            self.lock = None


def _notify(ready: IO[bytes] | None, message: dict[str, Any]) -> None:
    if ready is None:
        return
    with contextlib.suppress(OSError):
        ready.write(json.dumps(message).encode() + b"\n")
        ready.close()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise _Terminate()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stickyctl.lab.daemon", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--ready-fd", type=int, default=None)
    parser.add_argument(
        "--detach", action="store_true", help="fork once more and let the parent exit (not a child of the caller)"
    )
    opts = parser.parse_args(argv)
    if opts.detach and os.fork() > 0:
        os._exit(0)  # the caller reaps this one at once; the supervisor is adopted by init
    ready = os.fdopen(opts.ready_fd, "wb") if opts.ready_fd is not None else None
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    state_dir = Path(opts.state_dir)
    supervisor: Supervisor | None = None
    code = 0
    try:
        spec_data = st.read_json(state_dir / st.SPEC_FILE)
        if not isinstance(spec_data, dict):
            raise RequestError(f"no {st.SPEC_FILE} in {state_dir}")
        supervisor = Supervisor(state_dir, st.LabSpec.from_json(spec_data))
        try:
            supervisor.start()
        except _Terminate:
            _notify(ready, {"ok": False, "error": "interrupted while starting"})
            return 1
        _notify(ready, {"ok": True})
        ready = None
        supervisor.serve()
        _log("down")
    except _Terminate:
        _log("terminated")
    except (RequestError, LabError, DesignError, st.LabStateError, OSError) as exc:
        message = str(exc)
        _log(f"error: {message}")
        if ready is not None:
            _notify(ready, {"ok": False, "error": message.splitlines()[0]})
        else:
            with contextlib.suppress(OSError):
                (state_dir / st.LAST_ERROR_FILE).write_text(message.splitlines()[0] + "\n")
        code = 1
    except Exception as exc:  # a bug: logged in full, reported as one line
        _log(traceback.format_exc())
        _notify(ready, {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"})
        code = 1
    finally:
        if supervisor is not None:
            with contextlib.suppress(_Terminate):
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                supervisor.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
