"""A lab's state directory, its pods, and the control channel to its supervisor.

``stickyctl lab up`` starts a supervisor (``python -m stickyctl.lab.daemon --state-dir DIR``) in a
session of its own; it owns Envoy and the backends and keeps running after the command returns.
Everything about one lab lives in its state directory (mode 0700)::

    spec.json       what `lab up` asked for (mode, replicas, breaks, Envoy binary)
    state.json      written by the supervisor once traffic flows: URLs, pids, pods
    lab.lock        flock held by the supervisor for its whole life: one lab per directory
    control.sock    the supervisor's unix socket (one JSON request, one JSON answer per connection)
    services.yaml   the Services manifest of the lab's labelled Services (for `check --services`)
    daemon.log      the supervisor's log; envoy/ holds Envoy's bootstrap, xDS files and log

Standard library only: the CLI and the supervisor both import this.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from stickyctl.lab.xds import Endpoint

SCHEMA_VERSION = 1
SPEC_FILE = "spec.json"
STATE_FILE = "state.json"
LOCK_FILE = "lab.lock"
SOCKET_FILE = "control.sock"
SERVICES_FILE = "services.yaml"
ISTIOD_FILE = "istiod.yaml"
LOG_FILE = "daemon.log"
LAST_ERROR_FILE = "last-error.txt"
ENVOY_DIR = "envoy"
CLUSTER_DIR = "cluster"
"""The lab as a cluster would hold it (cluster.yaml, proxy.yaml, istiod.yaml), rewritten on every
change: ``python scripts/record_istiod.py <state-dir>/cluster OUT`` shows what istiod's own code
generates for it (docs/fidelity.md)."""

MAX_REPLICAS = 100
POD_PORT = 5000
VERSIONS = ("v1", "v2")

PodStatus = Literal["serving", "draining", "killed"]
"""serving: in EDS as HEALTHY, answering; draining: terminating but still answering (in EDS as
DRAINING for a cookie-labelled Service, dropped from EDS otherwise, as istiod does; a
terminating pod during a rollout); killed: its process is gone but its endpoint is still in EDS
(the window before Kubernetes notices)."""


class LabStateError(Exception):
    """No lab, an unreachable supervisor, or a supervisor that said no; ``exit_status`` 2 or 3."""

    def __init__(self, message: str, exit_status: int = 3) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/stickyctl/lab``, else ``~/.local/state/stickyctl/lab``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "stickyctl" / "lab"


@dataclass(frozen=True)
class LabSpec:
    """What ``lab up`` asked for."""

    envoy: str
    replicas: int = 6
    mode: str = "header"
    breaks: tuple[str, ...] = ()
    strict: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self), "breaks": list(self.breaks)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabSpec:
        return cls(
            envoy=str(data["envoy"]),
            replicas=int(data.get("replicas", 6)),
            mode=str(data.get("mode", "header")),
            breaks=tuple(str(b) for b in data.get("breaks", ())),
            strict=bool(data.get("strict", False)),
        )


@dataclass
class Pod:
    """One helloworld pod: a backend on ``address:port`` and its endpoint in EDS."""

    name: str
    address: str
    version: str
    port: int = POD_PORT
    status: PodStatus = "serving"
    requests: int = 0

    @property
    def upstream(self) -> str:
        return f"{self.address}:{self.port}"

    def endpoint(self) -> Endpoint:
        return Endpoint(
            address=self.address,
            port=self.port,
            workload=f"helloworld-{self.version}",
            namespace="helloworld",
            canonical_name="helloworld",
            revision=self.version,
            health_status="DRAINING" if self.status == "draining" else "HEALTHY",
        )

    def to_json(self, *, in_eds: bool = True) -> dict[str, Any]:
        """``in_eds``: whether istiod keeps the endpoint in EDS (a draining pod of a Service without
        the cookie label leaves it, see :meth:`stickyctl.lab.scenarios.Design.eds`); null when not."""
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "upstream": self.upstream,
            "version": self.version,
            "status": self.status,
            "eds_health_status": (self.endpoint().health_status if in_eds else None),
            "requests": self.requests,
        }


@dataclass
class LabState:
    """``state.json``: what a running lab is and where to reach it."""

    state_dir: str
    pid: int
    envoy_pid: int | None
    gateway_url: str
    admin_url: str
    services: str
    socket: str
    mode: str
    breaks: list[str]
    strict: bool
    started_at: float
    pods: list[dict[str, Any]] = field(default_factory=list)
    istiod: str | None = None
    envoy: str = ""
    log: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        if data["istiod"] is None:
            del data["istiod"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabState:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


# --- files ------------------------------------------------------------------------------------


def ensure_dir(path: Path) -> Path:
    """Create the state directory (0700) if needed; refuse a path that is not a directory."""
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise LabStateError(f"--state-dir {path}: not a directory", 2)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LabStateError(f"--state-dir {path}: {exc.strerror or exc}", 2) from None
    return path.resolve()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabStateError(f"{path}: unreadable ({exc})") from None


def read_state(state_dir: Path) -> LabState | None:
    data = read_json(state_dir / STATE_FILE)
    if not isinstance(data, dict):
        return None
    try:
        return LabState.from_json(data)
    except TypeError as exc:
        raise LabStateError(f"{state_dir / STATE_FILE}: not a lab state file ({exc})") from None


# --- one lab per directory --------------------------------------------------------------------


@contextlib.contextmanager
def probe_lock(state_dir: Path) -> Iterator[bool]:
    """Whether no supervisor holds the directory's lock (True: free; held only inside the block)."""
    import fcntl

    try:
        handle = open(state_dir / LOCK_FILE, "a+")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        yield True  # no directory: no lab
        return
    except OSError as exc:
        raise LabStateError(f"{state_dir / LOCK_FILE}: {exc.strerror or exc}") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                yield False
                return
            raise
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def hold_lock(state_dir: Path) -> IO[str] | None:
    """Take the directory's lock for the life of the process (the returned file); None if taken."""
    import fcntl

    handle = open(state_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def lab_running(state_dir: Path) -> bool:
    with probe_lock(state_dir) as free:
        return not free


# --- processes --------------------------------------------------------------------------------


def pid_alive(pid: int | None) -> bool:
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        if stat.read().rsplit(")", 1)[-1].split()[0] == "Z":
            return False
    return True


def pid_is(pid: int, *needles: str) -> bool:
    """Whether process ``pid`` looks like one of ours (its command line holds a needle). Where
    /proc is missing, trust the pid file."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return os.path.isdir("/proc") is False and pid_alive(pid)
    except OSError:
        return False
    return any(n in cmdline for n in needles)


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` is alive; return those still alive at ``timeout``."""
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if pid_alive(p)]
    return alive


# --- control channel --------------------------------------------------------------------------

_MAX_SUN_PATH = 100


def socket_path(state_dir: Path) -> str:
    """``DIR/control.sock``, or (when that path is too long for a unix socket) a private directory
    under the temp dir named after the state directory."""
    path = str(state_dir / SOCKET_FILE)
    if len(path.encode()) <= _MAX_SUN_PATH:
        return path
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    private = Path(tempfile.gettempdir()) / f"stickyctl-lab-{os.getuid()}-{digest}"
    private.mkdir(mode=0o700, exist_ok=True)
    return str(private / "s")


def request(state: LabState, payload: Mapping[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
    """Send one request to the supervisor and return its answer (``{"ok": true, ...}``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(state.socket)
        except OSError as exc:
            raise LabStateError(
                f"the lab's supervisor (pid {state.pid}) does not answer on {state.socket}: "
                f"{exc.strerror or exc}; `stickyctl lab down --state-dir {state.state_dir}` cleans up"
            ) from None
        sock.sendall(json.dumps(dict(payload)).encode() + b"\n")
        chunks: list[bytes] = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except TimeoutError:
        raise LabStateError(f"the lab's supervisor did not answer within {timeout:g}s") from None
    except OSError as exc:
        raise LabStateError(f"the lab's supervisor hung up: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        answer = json.loads(b"".join(chunks) or b"null")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise LabStateError("the lab's supervisor gave no answer (it may have exited; see its daemon.log)")
    if not answer.get("ok"):
        raise LabStateError(str(answer.get("error") or "the lab refused the request"), int(answer.get("exit", 3)))
    return answer
