"""A loopback fake Kubernetes API server for the live tests (test code, standard library only).

It serves recorded objects on the REST paths real clients use, so the official ``kubernetes``
Python client and ``kubectl`` both read from it:

- discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>/<version>`` (optional
  API groups such as Istio's and Gateway API's exist only when "installed": absent, every path
  under them is a 404, as for a cluster without those CRDs);
- ``GET`` list (label and field selectors, ``limit``/``continue`` paging, ``as=Table`` for kubectl)
  and get of namespaced and cluster-scoped resources;
- the websocket subresources ``pods/<name>/portforward`` (``v4.channel.k8s.io`` /
  ``portforward.k8s.io``: port-prefixed data and error channels, as the kubelet sends them) and
  ``pods/<name>/exec`` (``v5``/``v4.channel.k8s.io``: stdout, stderr, a Status on channel 3), relaying to
  a real Envoy admin port (a lab Envoy) or failing the way a kubelet does;
- authentication by bearer token or client certificate (TLS, client CA), so kubeconfig exec
  plugins work too (they produce a token), and an RBAC allowlist per user: anything else is a 403
  with the Status body an API server sends. Every request is logged with its RBAC attributes.

Anything but GET is refused (405) and logged, so tests can prove stickyctl never writes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import select
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

JSON = dict[str, Any]

# --- what the server knows about ---------------------------------------------------------------


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


CORE = (
    ResourceType("", "v1", "pods", "Pod", True, ("portforward", "exec", "log", "status"), ("po",)),
    ResourceType("", "v1", "services", "Service", True, (), ("svc",)),
    ResourceType("", "v1", "namespaces", "Namespace", False, (), ("ns",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, (), ("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True),
    ResourceType("apps", "v1", "deployments", "Deployment", True, ("scale", "status"), ("deploy",)),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, ("scale", "status"), ("sts",)),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, ("status",), ("ds",)),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, ("scale", "status"), ("rs",)),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
                 ("status",), ("crd",)),
)
ISTIO = tuple(
    ResourceType("networking.istio.io", v, plural, kind, True)
    for v in ("v1", "v1beta1", "v1alpha3")
    for plural, kind in (("serviceentries", "ServiceEntry"), ("virtualservices", "VirtualService"),
                         ("destinationrules", "DestinationRule"), ("gateways", "Gateway"))
)
GATEWAY_API = tuple(
    ResourceType("gateway.networking.k8s.io", v, plural, kind, True, ("status",))
    for v in ("v1", "v1beta1")
    for plural, kind in (("httproutes", "HTTPRoute"), ("gateways", "Gateway"), ("grpcroutes", "GRPCRoute"))
)
OPTIONAL_GROUPS = {"istio": ISTIO, "gateway-api": GATEWAY_API}


# --- RBAC ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    namespace: str | None = None
    """None: cluster-wide (a ClusterRole through a ClusterRoleBinding); else only this namespace."""

    def allows(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        if self.namespace is not None and namespace != self.namespace:
            return False
        return ((verb in self.verbs or "*" in self.verbs) and (group in self.groups or "*" in self.groups)
                and (resource in self.resources or "*" in self.resources))


def rules_from_manifest(path: Path, *role_names: str, namespace: str | None = None) -> list[Rule]:
    """The rules a subject gets from a manifest such as docs/rbac.yaml, following its bindings: a
    ClusterRoleBinding grants the role cluster-wide, a RoleBinding only in its namespace (or in
    ``namespace`` when given, as copying the binding there would). ``role_names`` picks roles (default: all
    bound roles); a named role with no binding in the file is granted cluster-wide."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    roles = {d["metadata"]["name"]: d for d in docs if d.get("kind") in ("ClusterRole", "Role")}
    bindings = [d for d in docs if d.get("kind") in ("ClusterRoleBinding", "RoleBinding")]
    scopes: dict[str, list[str | None]] = {}
    for b in bindings:
        ns = None if b["kind"] == "ClusterRoleBinding" else (namespace or b["metadata"].get("namespace"))
        scopes.setdefault(b["roleRef"]["name"], []).append(ns)
    wanted = role_names or tuple(scopes)
    out: list[Rule] = []
    for name in wanted:
        role = roles[name]
        for ns in scopes.get(name, [None]):
            for r in role.get("rules") or []:
                out.append(Rule(frozenset(r.get("verbs", [])), frozenset(r.get("apiGroups", [])),
                                frozenset(r.get("resources", [])), ns))
    return out


ALL = [Rule(frozenset({"*"}), frozenset({"*"}), frozenset({"*"}))]


# --- the cluster's state -------------------------------------------------------------------------


@dataclass
class Backend:
    """What a pod's port-forward/exec reaches."""

    admin: tuple[str, int] | None = None
    """The real Envoy admin address behind the pod's port 15000 (None: nothing listens)."""
    fault: str | None = None
    """None | "reset" (cut the stream mid-transfer) | "hang" (accept, never answer)."""
    reset_after: int = 4096
    split_frames: bool = False
    """Forward each piece of the pod's bytes as two data frames. A kubelet frames the bytes as it
    reads them (io.Copy), so one HTTP response reaches the client in as many frames as reads: a pod
    that writes headers and body apart, or a body larger than one read, does this."""


@dataclass
class FakeCluster:
    objects: dict[tuple[str, str], list[JSON]] = field(default_factory=dict)
    """(group, plural) -> objects."""
    installed: set[str] = field(default_factory=set)
    """Optional API groups served: "istio", "gateway-api"."""
    backends: dict[tuple[str, str], Backend] = field(default_factory=dict)
    gone: set[tuple[str, str]] = field(default_factory=set)
    """Pods listed by list calls but deleted for everything else (deleted between list and fetch)."""
    version: str = "v1.31.2"

    def add(self, *objs: JSON) -> None:
        for obj in objs:
            rt = self.type_of(obj)
            self.objects.setdefault((rt.group, rt.plural), []).append(obj)

    def type_of(self, obj: JSON) -> ResourceType:
        group = str(obj["apiVersion"]).rpartition("/")[0]
        for rt in self.types():
            if rt.kind == obj["kind"] and rt.group == group:
                return rt
        raise KeyError(f"unknown kind {obj['kind']} {obj['apiVersion']}")

    def types(self) -> list[ResourceType]:
        out = list(CORE)
        for name in sorted(self.installed):
            out.extend(OPTIONAL_GROUPS[name])
        return out

    def crds(self) -> list[JSON]:
        out = []
        for name in sorted(self.installed):
            seen = set()
            for rt in OPTIONAL_GROUPS[name]:
                if (rt.group, rt.plural) in seen:
                    continue
                seen.add((rt.group, rt.plural))
                versions = [{"name": r.version, "served": True, "storage": r.version == "v1"}
                            for r in OPTIONAL_GROUPS[name] if r.plural == rt.plural]
                out.append({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                            "metadata": {"name": f"{rt.plural}.{rt.group}"},
                            "spec": {"group": rt.group, "names": {"kind": rt.kind, "plural": rt.plural},
                                     "scope": "Namespaced", "versions": versions}})
        return out

    def listed(self, group: str, plural: str) -> list[JSON]:
        if (group, plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
            return self.crds()
        return list(self.objects.get((group, plural), []))


# --- selectors -----------------------------------------------------------------------------------


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def label_match(selector: str, labels: dict[str, str]) -> bool:
    for req in _split_top(selector):
        if " notin " in req or " in " in req:
            key, op, values = req.partition(" notin ") if " notin " in req else req.partition(" in ")
            vals = {v.strip() for v in values.strip().strip("()").split(",")}
            present = key.strip() in labels and labels[key.strip()] in vals
            if (op.strip() == "in") != present:
                return False
        elif "!=" in req:
            key, _, value = req.partition("!=")
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in req:
            key, _, value = req.replace("==", "=").partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
        elif req.startswith("!"):
            if req[1:].strip() in labels:
                return False
        elif req not in labels:
            return False
    return True


def _field(obj: JSON, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def field_match(selector: str, obj: JSON) -> bool:
    for req in _split_top(selector):
        if "!=" in req:
            key, _, value = req.partition("!=")
            if _field(obj, key.strip()) == value.strip():
                return False
        else:
            key, _, value = req.replace("==", "=").partition("=")
            if _field(obj, key.strip()) != value.strip():
                return False
    return True


# --- websockets (server side, RFC 6455) ----------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket:
    """Server side of one websocket. Reads go straight to the socket with a buffer of our own (the
    handler's rfile is unbuffered, so nothing the client sent is stuck in a read-ahead buffer), and
    every stream is served on one thread: an SSL socket must not be read and written at once."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def readable(self, timeout: float | None, *others: socket.socket) -> list[Any]:
        """Which of this websocket and ``others`` have data (this one first when bytes are buffered)."""
        if self.buffer or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return [self]
        ready, _, _ = select.select([self.sock, *others], [], [], timeout)
        return [self if r is self.sock else r for r in ready]

    def _fill(self, n: int) -> None:
        while len(self.buffer) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buffer += data

    def _take(self, n: int) -> bytes:
        self._fill(n)
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def recv(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next data or close frame (pings answered, fragments joined)."""
        message = b""
        first_op = None
        while True:
            b1, b2 = self._take(2)
            fin, op = b1 & 0x80, b1 & 0x0F
            masked, length = b2 & 0x80, b2 & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._take(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._take(8))[0]
            mask = self._take(4) if masked else b""
            payload = self._take(length)
            if masked:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if op == OP_PING:
                self.send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                return OP_CLOSE, payload
            if first_op is None:
                first_op = op
            message += payload
            if fin:
                return first_op, message

    def send(self, op: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | op, n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | op, 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | op, 127, n)
        self.sock.sendall(header + payload)

    def close(self, code: int = 1000) -> None:
        with contextlib.suppress(OSError):
            self.send(OP_CLOSE, struct.pack("!H", code))


# --- the server ----------------------------------------------------------------------------------


@dataclass
class Logged:
    user: str | None
    method: str
    path: str
    query: str
    verb: str | None
    group: str | None
    resource: str | None
    namespace: str | None
    status: int


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    client_ca: Path | None = None


def _status(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    doc: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                 "reason": reason, "code": code}
    if details:
        doc["details"] = details
    return doc


def kubelet_refused(pod: str, port: int) -> str:
    return (f"error forwarding port {port} to pod {pod}, uid : failed to execute portforward in network namespace "
            f'"/var/run/netns/cni-5e2c": failed to connect to localhost:{port} inside namespace "/var/run/netns/'
            f'cni-5e2c", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: '
            "connect: connection refused ")


class FakeApiServer:
    def __init__(self, cluster: FakeCluster, *, tls: TlsFiles | None = None,
                 tokens: dict[str, str] | None = None, grants: dict[str, list[Rule]] | None = None,
                 cert_users: bool = True) -> None:
        self.cluster = cluster
        self.tls = tls
        self.tokens = dict(tokens or {})
        """token -> user name."""
        self.grants = dict(grants or {})
        """user name -> RBAC rules (a user without an entry may do nothing but discovery)."""
        self.cert_users = cert_users
        self.log: list[Logged] = []
        self._log_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.on_request: Any = None
        """Called with each Logged entry before the answer is sent (tests use it to time faults)."""
        self._streams = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeApiServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        server.daemon_threads = True
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls.cert, self.tls.key)
            if self.tls.client_ca is not None:
                ctx.load_verify_locations(self.tls.client_ca)
                ctx.verify_mode = ssl.CERT_OPTIONAL
            server.ssl_ctx = ctx
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def record(self, entry: Logged) -> None:
        with self._log_lock:
            self.log.append(entry)

    def requests(self) -> list[Logged]:
        with self._log_lock:
            return list(self.log)

    def denied(self) -> list[Logged]:
        return [e for e in self.requests() if e.status == 403]

    def stream(self, delta: int) -> None:
        with self._log_lock:
            self._streams += delta

    def open_streams(self) -> int:
        """Port-forward and exec streams whose client has not gone away yet."""
        with self._log_lock:
            return self._streams

    def allowed(self, user: str, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        return any(r.allows(verb, group, resource, namespace) for r in self.grants.get(user, []))


class _Server(ThreadingHTTPServer):
    fake: FakeApiServer
    ssl_ctx: ssl.SSLContext | None = None
    allow_reuse_address = True
    request_queue_size = 64

    def finish_request(self, request: Any, client_address: Any) -> None:
        # As the real API server: Go's net package sets TCP_NODELAY on every TCP connection. Without
        # it, a response's body (written after its headers) waits for the client's delayed ACK,
        # about 40 ms a request on Linux, which no real cluster adds.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_ctx is not None:
            request.settimeout(5)
            try:
                request = self.ssl_ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                request.close()
                return
            request.settimeout(None)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-request is not a test failure


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    rbufsize = 0  # no read-ahead: after a websocket upgrade the frames are read from the socket
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def fake(self) -> FakeApiServer:
        return self.server.fake

    def _send_json(self, code: int, doc: Any, content_type: str = "application/json") -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Audit-Id", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(body)

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return self.fake.tokens.get(auth[7:].strip())
        if self.fake.cert_users and isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert()
            if cert:
                subject = cert.get("subject", ())
                # ((("commonName", "alice"),), ...): relative distinguished names of (key, value)
                for rdn in subject if isinstance(subject, tuple) else ():
                    for attribute in rdn:
                        if isinstance(attribute, tuple) and attribute[0] == "commonName":
                            return str(attribute[1])
        return None

    # -- dispatch ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def _refuse_write(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._dispatch(self.command)

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse_write

    def _dispatch(self, method: str) -> None:
        split = urllib.parse.urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        user = self._user()
        entry = Logged(user, method, path, split.query, None, None, None, None, 0)

        def answer(code: int, doc: Any, content_type: str = "application/json") -> None:
            entry.status = code
            self.fake.record(entry)
            if self.fake.on_request is not None:
                self.fake.on_request(entry)
            self._send_json(code, doc, content_type)

        if user is None:
            answer(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        discovery = self._discovery(path)
        if discovery is not None:
            if method != "GET":
                answer(405, _status(405, "MethodNotAllowed", "the server does not allow this method"))
            else:
                answer(200, discovery)
            return
        target = self._resource(path)
        if target is None:
            answer(404, _status(404, "NotFound", "the server could not find the requested resource"))
            return
        rt, namespace, name, sub = target
        resource = f"{rt.plural}/{sub}" if sub else rt.plural
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}[method]
        if sub in ("portforward", "exec"):
            verb = "create"  # websocket upgrades: AuthorizePodWebsocketUpgradeCreatePermission (1.31+)
        if method == "GET" and "watch" in query and query["watch"][0] in ("1", "true"):
            verb = "watch"
        entry.verb, entry.group, entry.resource, entry.namespace = verb, rt.group, resource, namespace
        if not self.fake.allowed(user, verb, rt.group, resource, namespace):
            where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            named = f'{rt.plural} "{name}" ' if name else f"{rt.plural} "
            answer(403, _status(403, "Forbidden", f'{named}is forbidden: User "{user}" cannot {verb} resource '
                                f'"{resource}" in API group "{rt.group}" {where}',
                                {"name": name, "group": rt.group, "kind": rt.plural} if name else
                                {"group": rt.group, "kind": rt.plural}))
            return
        if method != "GET" or verb == "watch":
            answer(405, _status(405, "MethodNotAllowed", "this fake API server is read-only"))
            return
        if sub is not None:
            self._subresource(rt, namespace, name, sub, query, entry, answer)
            return
        if name:
            obj = self._find(rt, namespace, name)
            if obj is None:
                answer(404, _status(404, "NotFound", f'{rt.plural} "{name}" not found',
                                    {"name": name, "kind": rt.plural}))
            else:
                answer(200, obj)
            return
        answer(200, *self._list(rt, namespace, query))

    # -- discovery ---------------------------------------------------------------------------

    def _discovery(self, path: str) -> Any:
        cluster = self.fake.cluster
        if path == "/version":
            return {"major": "1", "minor": cluster.version.split(".")[1], "gitVersion": cluster.version,
                    "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2024-10-22T20:28:14Z",
                    "goVersion": "go1.22.8", "compiler": "gc", "platform": "linux/amd64"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}
        if path == "/apis":
            groups: dict[str, list[str]] = {}
            for rt in cluster.types():
                if rt.group:
                    versions = groups.setdefault(rt.group, [])
                    if rt.version not in versions:
                        versions.append(rt.version)
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
                for g, vs in groups.items()]}
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            return self._resource_list("", parts[1])
        if parts[0] == "apis" and len(parts) == 2:
            versions = [rt.version for rt in cluster.types() if rt.group == parts[1]]
            if not versions:
                return None
            vs = list(dict.fromkeys(versions))
            return {"kind": "APIGroup", "apiVersion": "v1", "name": parts[1],
                    "versions": [{"groupVersion": f"{parts[1]}/{v}", "version": v} for v in vs],
                    "preferredVersion": {"groupVersion": f"{parts[1]}/{vs[0]}", "version": vs[0]}}
        if parts[0] == "apis" and len(parts) == 3:
            return self._resource_list(parts[1], parts[2])
        return None

    def _resource_list(self, group: str, version: str) -> Any:
        types = [rt for rt in self.fake.cluster.types() if rt.group == group and rt.version == version]
        if not types:
            return None
        resources = []
        for rt in types:
            resources.append({"name": rt.plural, "singularName": rt.kind.lower(), "namespaced": rt.namespaced,
                              "kind": rt.kind, "verbs": ["create", "delete", "get", "list", "patch", "update",
                                                         "watch"], "shortNames": list(rt.short_names)})
            for sub in rt.subresources:
                verbs = ["create", "get"] if sub in ("portforward", "exec") else ["get"]
                resources.append({"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                                  "kind": "PodPortForwardOptions" if sub == "portforward" else rt.kind,
                                  "verbs": verbs})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": types[0].api_version,
                "resources": resources}

    # -- resources ---------------------------------------------------------------------------

    def _resource(self, path: str) -> tuple[ResourceType, str | None, str | None, str | None] | None:
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
        for rt in self.fake.cluster.types():
            if rt.group == group and rt.version == version and rt.plural == plural:
                if namespace is not None and not rt.namespaced:
                    return None
                if sub is not None and sub not in rt.subresources:
                    return None
                return rt, namespace, name, sub
        return None

    def _visible(self, rt: ResourceType, namespace: str | None, *, listing: bool) -> list[JSON]:
        out = []
        for obj in self.fake.cluster.listed(rt.group, rt.plural):
            meta = obj.get("metadata", {})
            if namespace is not None and meta.get("namespace") != namespace:
                continue
            ident = (meta.get("namespace"), meta.get("name"))
            if not listing and rt.plural == "pods" and ident in self.fake.cluster.gone:
                continue
            out.append(obj)
        return out

    def _find(self, rt: ResourceType, namespace: str | None, name: str) -> JSON | None:
        for obj in self._visible(rt, namespace, listing=False):
            if obj["metadata"]["name"] == name:
                return obj
        return None

    def _list(self, rt: ResourceType, namespace: str | None, query: dict[str, list[str]]) -> tuple[Any, str]:
        items = self._visible(rt, namespace, listing=True)
        if "labelSelector" in query:
            items = [o for o in items if label_match(query["labelSelector"][0], o["metadata"].get("labels") or {})]
        if "fieldSelector" in query:
            items = [o for o in items if field_match(query["fieldSelector"][0], o)]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        start = int(query.get("continue", ["0"])[0] or 0)
        limit = int(query.get("limit", ["0"])[0] or 0)
        page = items[start:start + limit] if limit else items[start:]
        more = limit and start + limit < len(items)
        meta: JSON = {"resourceVersion": "12345"}
        if more:
            meta["continue"] = str(start + limit)
        accept = self.headers.get("Accept", "")
        if "as=Table" in accept:
            return self._table(rt, page, meta), "application/json;as=Table;v=v1;g=meta.k8s.io"
        clean = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": clean}, \
            "application/json"

    def _table(self, rt: ResourceType, items: list[JSON], meta: JSON) -> JSON:
        columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
        if rt.plural == "pods":
            columns += [{"name": "Status", "type": "string", "format": "", "description": "Phase", "priority": 0},
                        {"name": "IP", "type": "string", "format": "", "description": "Pod IP", "priority": 1}]
        rows = []
        for o in items:
            cells: list[Any] = [o["metadata"]["name"]]
            if rt.plural == "pods":
                cells += [o.get("status", {}).get("phase", ""), o.get("status", {}).get("podIP", "")]
            rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                     "metadata": o["metadata"]}})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns,
                "rows": rows}

    # -- websocket subresources ------------------------------------------------------------

    def _subresource(self, rt: ResourceType, namespace: str | None, name: str | None, sub: str,
                     query: dict[str, list[str]], entry: Logged, answer: Any) -> None:
        assert namespace is not None and name is not None
        pod = self._find(rt, namespace, name)
        if pod is None:
            answer(404, _status(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"}))
            return
        if self.headers.get("Upgrade", "").lower() != "websocket":
            answer(400, _status(400, "BadRequest", "Upgrade request required"))
            return
        if sub == "exec":
            container = (query.get("container") or [""])[0]
            names = [c["name"] for c in pod["spec"].get("containers", [])]
            if container not in names:
                answer(400, _status(400, "BadRequest", f"container {container} is not valid for pod {name}"))
                return
            offered = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "channel.k8s.io"]
        else:
            offered = ["portforward.k8s.io", "v4.channel.k8s.io"]
        client_protocols = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        protocol = next((p for p in client_protocols if p in offered), None)
        if protocol is None:
            answer(400, _status(400, "BadRequest", f"no supported websocket subprotocol in {client_protocols}"))
            return
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        entry.status = 101
        self.fake.record(entry)
        if self.fake.on_request is not None:
            self.fake.on_request(entry)
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        ws = WebSocket(self.connection)
        backend = self.fake.cluster.backends.get((namespace, name), Backend())
        self.fake.stream(+1)
        try:
            if sub == "portforward":
                ports = [int(p) for p in (query.get("ports") or ["0"])[0].split(",")]
                self._portforward(ws, name, ports[0], backend)
            else:
                self._exec(ws, query.get("command") or [], backend)
        except (OSError, EOFError):
            pass
        finally:
            self.fake.stream(-1)

    def _portforward(self, ws: WebSocket, pod: str, port: int, backend: Backend) -> None:
        prefix = struct.pack("<H", port)
        ws.send(OP_BINARY, b"\x00" + prefix)
        ws.send(OP_BINARY, b"\x01" + prefix)
        if backend.fault == "hang":
            while ws.recv()[0] != OP_CLOSE:  # take the requests, never answer
                pass
            return
        address = backend.admin if port == 15000 else None
        try:
            if address is None:
                raise ConnectionRefusedError
            upstream = socket.create_connection(address, timeout=5)
        except OSError:
            ws.send(OP_BINARY, b"\x01" + kubelet_refused(pod, port).encode())
            ws.close()
            return
        sent = 0
        try:
            while True:
                ready = ws.readable(None, upstream)
                if ws in ready:
                    op, payload = ws.recv()
                    if op == OP_CLOSE:
                        ws.close()
                        return
                    if payload and payload[0] == 0:
                        upstream.sendall(payload[1:])
                if upstream in ready:
                    data = upstream.recv(65536)
                    if not data:
                        ws.close()
                        return
                    if backend.fault == "reset" and sent + len(data) > backend.reset_after:
                        ws.send(OP_BINARY, b"\x00" + data[: max(0, backend.reset_after - sent)])
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()  # RST: the stream is cut mid-transfer
                        return
                    if backend.split_frames and len(data) > 1:
                        ws.send(OP_BINARY, b"\x00" + data[: len(data) // 2])
                        ws.send(OP_BINARY, b"\x00" + data[len(data) // 2:])
                    else:
                        ws.send(OP_BINARY, b"\x00" + data)
                    sent += len(data)
        finally:
            upstream.close()

    def _exec(self, ws: WebSocket, command: Sequence[str], backend: Backend) -> None:
        def status(doc: JSON) -> None:
            ws.send(OP_BINARY, b"\x03" + json.dumps(doc).encode())

        if list(command[:3]) == ["pilot-agent", "request", "GET"] and len(command) >= 4:
            path = command[3]
            port = 15000
            if "--debug-port" in command:
                port = int(command[list(command).index("--debug-port") + 1])
            address = backend.admin if port == 15000 else None
            if address is None:
                refused = f"Error: dial tcp 127.0.0.1:{port}: connect: connection refused\n"
                ws.send(OP_BINARY, b"\x02" + refused.encode())
                status(_exit_status(1))
                ws.close()
                return
            conn = http.client.HTTPConnection(*address, timeout=10)
            try:
                conn.request("GET", "/" + path.lstrip("/"))
                resp = conn.getresponse()
                body = resp.read()
            finally:
                conn.close()
            if resp.status != 200:
                ws.send(OP_BINARY, b"\x02" + f"Error: received unsuccessful status code {resp.status}: "
                        f"{body[:200].decode(errors='replace')}\n".encode())
                status(_exit_status(1))
            else:
                for i in range(0, len(body), 32 * 1024):
                    ws.send(OP_BINARY, b"\x01" + body[i:i + 32 * 1024])
                status({"metadata": {}, "status": "Success"})
        else:
            status({"metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
                    "message": f'OCI runtime exec failed: exec failed: unable to start container process: exec: '
                               f'"{command[0] if command else ""}": executable file not found in $PATH: unknown'})
        ws.close()


def _exit_status(code: int) -> JSON:
    return {"metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


# --- object builders (what a cluster with an Istio ingress gateway holds) -----------------------


def gateway_pod(name: str, namespace: str = "istio-ingress", *, ip: str = "10.244.0.7", node: str = "kind-worker",
                revision: str | None = None, phase: str = "Running", workload: str = "istio-ingressgateway",
                role: str = "router", labels: dict[str, str] | None = None) -> JSON:
    """A gateway pod as istioctl/Helm installs it (istio-proxy runs `proxy router`)."""
    template_hash = name.rsplit("-", 2)[-2] if name.count("-") >= 2 else "0"
    meta_labels = {"app": workload, "istio": "ingressgateway", "pod-template-hash": template_hash,
                   "service.istio.io/canonical-name": workload, "sidecar.istio.io/inject": "false",
                   **(labels or {})}
    annotations = {"prometheus.io/port": "15020", "prometheus.io/scrape": "true"}
    if revision is not None:
        meta_labels["istio.io/rev"] = revision
        annotations["istio.io/rev"] = revision
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": hashlib.md5(name.encode()).hexdigest(),
                     "labels": meta_labels, "annotations": annotations,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                          "name": f"{workload}-{template_hash}", "uid": "1"}],
                     "creationTimestamp": "2026-11-27T10:00:00Z"},
        "spec": {"nodeName": node, "serviceAccountName": f"{workload}-service-account", "containers": [{
            "name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0",
            "args": ["proxy", role, "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning",
                     "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
            "env": [{"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"}],
            "ports": [{"containerPort": 15021, "name": "status-port", "protocol": "TCP"},
                      {"containerPort": 8080, "name": "http2", "protocol": "TCP"},
                      {"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}]}]},
        "status": {"phase": phase, "podIP": ip if phase == "Running" else None,
                   "podIPs": [{"ip": ip}] if phase == "Running" else [],
                   "conditions": [{"type": "Ready", "status": "True" if phase == "Running" else "False"}]},
    }


def plain_pod(name: str, namespace: str, *, ip: str, labels: dict[str, str] | None = None, port: int = 5000,
              node: str = "kind-worker", owner: str | None = None, terminating: bool = False) -> JSON:
    meta: JSON = {"name": name, "namespace": namespace, "labels": dict(labels or {}),
                  "creationTimestamp": "2026-11-27T10:00:00Z"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                    "controller": True, "uid": "2"}]
    if terminating:
        meta["deletionTimestamp"] = "2026-11-27T12:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.example/app:1",
                                                       "ports": [{"containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": "False" if terminating else "True"}]}}


def istiod(*, flag: bool | None, revision: str = "default", namespace: str = "istio-system",
           secret_env: str = "s3cr3t-do-not-copy") -> JSON:
    name = "istiod" if revision == "default" else f"istiod-{revision}"
    env: list[JSON] = [{"name": "REVISION", "value": revision},
                       {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
                       {"name": "SOME_TOKEN", "value": secret_env}]
    if flag is not None:
        env.append({"name": "PILOT_ENABLE_PERSISTENT_SESSION_FILTER", "value": "true" if flag else "false"})
    labels = {"app": "istiod", "istio": "pilot", "istio.io/rev": revision}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"istio": "pilot"}},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                         "name": "discovery", "image": "docker.io/istio/pilot:1.24.0", "env": env}]}}}}


def deployment(name: str, namespace: str, *, labels: dict[str, str] | None = None,
               template_labels: dict[str, str] | None = None) -> JSON:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {"app": name})},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, **(template_labels or {})}},
                                  "spec": {"containers": [{"name": name, "image": "registry.example/app:1",
                                                           "env": [{"name": "PASSWORD", "value": "hunter2"}]}]}}}}


def service_entry(name: str, namespace: str, hosts: Iterable[str], labels: dict[str, str] | None = None) -> JSON:
    meta: JSON = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": meta,
            "spec": {"hosts": list(hosts), "location": "MESH_EXTERNAL", "resolution": "DNS",
                     "ports": [{"number": 443, "name": "https", "protocol": "TLS"}]}}


def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)
