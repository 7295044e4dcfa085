"""Kubernetes manifests: Services, ServiceEntries, workloads, Gateway API routes, istiod.

Accepts ``kubectl get … -o yaml|json`` (a ``List``), single objects, and multi-document YAML as
found in GitOps repositories. Session labels are read the way istiod reads them (ISTIO-NOTES,
"Istio side"): from a Service's or ServiceEntry's own ``metadata.labels``; the cookie label wins
when both are set; an empty value means off.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from stickyctl.envoy.enums import SessionMode
from stickyctl.envoy.loader import check_text, decode_document, first_byte, not_utf8, read_source
from stickyctl.errors import InputError, WrongInputError
from stickyctl.istio.labels import COOKIE_LABEL, HEADER_LABEL, LabelKeys, LabelValueProblem

FLAG_ENV = "PILOT_ENABLE_PERSISTENT_SESSION_FILTER"
COOKIE_LABEL_ENV = "PILOT_PERSISTENT_SESSION_LABEL"
HEADER_LABEL_ENV = "PILOT_PERSISTENT_SESSION_HEADER_LABEL"


class K8sObject:
    """One Kubernetes object. From JSON manifests it is decoded lazily: metadata at once, the spec
    (kept as raw JSON) only when a check asks for it — 40k Services stay cheap."""

    __slots__ = ("_annotations", "_labels", "_raw", "_spec_json", "api_version", "kind", "name", "namespace",
                 "source")

    def __init__(self, kind: str, api_version: str, namespace: str, name: str, raw: dict[str, Any] | None = None,
                 source: str = "", *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
                 spec_json: bytes | msgspec.Raw | None = None) -> None:
        self.kind = kind
        self.api_version = api_version
        self.namespace = namespace
        self.name = name
        self.source = source
        self._raw = raw
        self._spec_json = spec_json
        meta = raw.get("metadata", {}) if raw is not None else {}
        if not isinstance(meta, dict):
            meta = {}
        self._labels = labels if labels is not None else _str_map(meta.get("labels"))
        self._annotations = annotations if annotations is not None else _str_map(meta.get("annotations"))

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        return self._labels

    @property
    def annotations(self) -> dict[str, str]:
        return self._annotations

    @property
    def raw(self) -> dict[str, Any]:
        """The object as a dict (the spec decoded on first use)."""
        if self._raw is None:
            spec = msgspec.json.decode(self._spec_json) if self._spec_json else None
            self._raw = {"apiVersion": self.api_version, "kind": self.kind,
                         "metadata": {"name": self.name, "namespace": self.namespace, "labels": self._labels,
                                      "annotations": self._annotations}}
            if spec is not None:
                self._raw["spec"] = spec
        return self._raw


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


class _Meta(msgspec.Struct, gc=False):
    name: Any = None
    namespace: Any = None
    labels: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None


class _Doc(msgspec.Struct, gc=False):
    kind: Any = None
    apiVersion: Any = None
    metadata: _Meta | None = None
    spec: msgspec.Raw = msgspec.Raw()
    items: list[msgspec.Raw] | None = None


_DOC = msgspec.json.Decoder(_Doc)
_DOCS = msgspec.json.Decoder(list[msgspec.Raw])


# The usual input (`kubectl get … -o json`, string labels and annotations) decodes in one call into
# these strict twins; anything else goes the lenient way above, which also names what is wrong.
class _PlainMeta(msgspec.Struct, gc=False):
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class _PlainDoc(msgspec.Struct, gc=False):
    kind: str
    apiVersion: str = ""
    metadata: _PlainMeta | None = None
    spec: msgspec.Raw = msgspec.Raw()
    items: list[_PlainDoc] | None = None


_PLAIN = msgspec.json.Decoder(list[_PlainDoc] | _PlainDoc)


def _plain_objects(docs: list[_PlainDoc], source: str, out: list[K8sObject]) -> bool:
    """False when a document needs the lenient path (its error message, or a lenient reading)."""
    for doc in docs:
        if doc.kind.endswith("List") and doc.items is not None:
            if not _plain_objects(doc.items, source, out):
                return False
            continue
        meta = doc.metadata
        if meta is None or meta.name is None:
            return False
        # The spec is kept as its JSON, decoded only if a check asks for it; copied out, so that the
        # file's bytes are not all kept for a few specs a check reads.
        out.append(K8sObject(doc.kind, doc.apiVersion, meta.namespace or "default", meta.name, None,
                             source, labels=meta.labels or {}, annotations=meta.annotations or {},
                             spec_json=bytes(doc.spec) if len(doc.spec) else None))
    return True


MANIFESTS = "Kubernetes manifests (kubectl get svc -A -o yaml)"
"""What a --services/--istiod file should hold, as the messages say it."""


def load_manifests(path: str, *, option: str | None = None) -> list[K8sObject]:
    """Objects from a manifest file: JSON (typed, lazy) or YAML (parsed, then the same path).

    ``option``: the command-line option that named the file (``--services``), for the message
    when the file is an Envoy config dump instead (a :class:`WrongInputError`, exit 2)."""
    source = "stdin" if path == "-" else path
    try:
        return _load_manifests(path, source, option)
    except RecursionError:
        raise InputError(source, "nested too deeply to be a manifest") from None
    except UnicodeDecodeError as exc:
        raise InputError(source, not_utf8(exc)) from None


def _load_manifests(path: str, source: str, option: str | None = None) -> list[K8sObject]:
    data = check_text(read_source(path, expected=MANIFESTS), source, expected=MANIFESTS)
    if first_byte(data) not in (b"{", b"["):
        data = msgspec.json.encode(decode_document(data, source, expected=MANIFESTS))
    try:
        plain = _PLAIN.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        plain = None
    if plain is not None:
        fast: list[K8sObject] = []
        if _plain_objects(plain if isinstance(plain, list) else [plain], source, fast):
            return fast
    try:
        items = _DOCS.decode(data) if first_byte(data) == b"[" else [msgspec.Raw(data)]
    except msgspec.DecodeError as exc:
        raise InputError(source, f"invalid JSON: {exc}") from None
    except msgspec.ValidationError:
        raise InputError(source, "not a list of Kubernetes objects") from None
    objects: list[K8sObject] = []
    _collect(items, source, objects, [0], option)
    return objects


_ENVOY_KEYS = frozenset({
    "configs", "filter_chains", "filterChains", "virtual_hosts", "virtualHosts", "load_assignment",
    "loadAssignment", "cluster_name", "clusterName", "lb_policy", "lbPolicy", "connect_timeout", "connectTimeout",
    "route_config", "routeConfig", "active_state", "activeState", "dynamic_listeners", "dynamic_route_configs",
})
"""Keys of an admin config dump, of its ``configs[]`` entries, and of the bare Listener, RouteConfiguration,
Cluster and ClusterLoadAssignment objects `istioctl proxy-config … -o json|yaml` prints: none of them is a
Kubernetes object key."""


def _envoy_config(raw: msgspec.Raw, source: str, option: str | None) -> WrongInputError | None:
    """The error for a document that is Envoy config rather than a Kubernetes object, else None."""
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    kind = doc.get("@type")
    if not (_ENVOY_KEYS & doc.keys() or (isinstance(kind, str) and ".envoy." in kind)):
        return None
    where = f"{option} {source}" if option else source
    return WrongInputError(f"{where}: this is an Envoy config dump, not Kubernetes manifests: pass it with -f")


def _collect(items: list[msgspec.Raw], source: str, out: list[K8sObject], counter: list[int],
             option: str | None = None) -> None:
    for raw in items:
        i = counter[0]
        counter[0] += 1
        try:
            doc = _DOC.decode(raw)
        except msgspec.ValidationError:
            wrong = _envoy_config(raw, source, option)
            if wrong is not None:
                raise wrong from None
            raise InputError(source, f"document {i} is not a Kubernetes object") from None
        except msgspec.DecodeError as exc:
            raise InputError(source, f"invalid JSON: {exc}") from None
        if isinstance(doc.kind, str) and doc.kind.endswith("List") and doc.items is not None:
            counter[0] -= 1
            _collect(doc.items, source, out, counter, option)
            continue
        if not isinstance(doc.kind, str):
            wrong = _envoy_config(raw, source, option)
            if wrong is not None:
                raise wrong
            raise InputError(source, f"document {i} has no 'kind': not a Kubernetes object")
        meta = doc.metadata
        if doc.kind == "Config" and meta is None:  # kubectl's own file: apiVersion v1, kind Config
            where = f"{option} {source}" if option else source
            raise WrongInputError(f"{where}: this is a kubeconfig, not Kubernetes manifests: pass it with "
                                  "--kubeconfig")
        if meta is None or not isinstance(meta.name, str):
            raise InputError(source, f"{doc.kind} (document {i}) has no metadata.name")
        ns = meta.namespace if isinstance(meta.namespace, str) and meta.namespace else "default"
        out.append(K8sObject(doc.kind, str(doc.apiVersion or ""), ns, meta.name, None, source,
                             labels=_str_map(meta.labels), annotations=_str_map(meta.annotations),
                             spec_json=bytes(doc.spec) if len(doc.spec) else None))


# ---------------------------------------------------------------------------------------------
# Session labels

# RFC 9110 token: what a header field name or a cookie name may be.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Kubernetes label value: at most 63 chars, alphanumerics with -_. inside.
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@functools.lru_cache(maxsize=4096)  # a few values on 40k Services (ablate.py: 1.03x-1.19x wall)
def label_value_problem(value: str, mode: SessionMode) -> LabelValueProblem | None:
    """Why istiod/Envoy/Kubernetes cannot use this label value (as a ``mode`` name), or None."""
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        return LabelValueProblem.PATH_FORM if ":" in value or "/" in value else LabelValueProblem.LABEL_VALUE
    if not _TOKEN.match(value):  # header and cookie names are both RFC 9110 tokens
        return LabelValueProblem.TOKEN
    return None


class LabelledService(msgspec.Struct, frozen=True, gc=False):
    """A Service or ServiceEntry whose labels make istiod configure sessions for it (a Struct:
    tens of thousands per mesh, built in C)."""

    obj: K8sObject
    mode: SessionMode
    """The cookie wins when both labels are set."""
    name: str
    """Header name, or cookie name (path stripped)."""
    hosts: tuple[str, ...]
    """ServiceEntry hosts; empty for a Service (matched by name.namespace.svc.*)."""

    @property
    def id(self) -> str:
        return f"{self.obj.namespace}/{self.obj.name}"


# Read per Service (tens of thousands): module constants, not class reads (see stickyctl.envoy.enums).
_COOKIE, _HEADER = SessionMode.COOKIE, SessionMode.HEADER


def session_label(obj: K8sObject, keys: LabelKeys) -> LabelledService | None:
    """The session a valid label asks for; None when unlabelled, empty or invalid (see STK0102)."""
    labels = obj.labels
    cookie = labels.get(keys.cookie, "")
    header = labels.get(keys.header, "")
    if cookie:
        # istiod: value "name[:path]"; only the name matters for matching clients.
        if label_value_problem(cookie, _COOKIE):
            return None
        mode, name = _COOKIE, cookie.split(":", 1)[0]
    elif header:
        if label_value_problem(header, _HEADER):
            return None
        mode, name = _HEADER, header
    else:
        return None
    hosts: tuple[str, ...] = ()
    if obj.kind == "ServiceEntry":
        spec = obj.raw.get("spec")
        raw_hosts = spec.get("hosts") if isinstance(spec, dict) else None
        hosts = tuple(h for h in raw_hosts if isinstance(h, str)) if isinstance(raw_hosts, list) else ()
    return LabelledService(obj, mode, name, hosts)


SERVICE_KINDS = frozenset({"Service", "ServiceEntry"})


class ServiceIndex:
    """Labelled Services by the hosts their clusters are named after (built once; O(1) lookups)."""

    def __init__(self, services: list[LabelledService], given: list[K8sObject] | None = None) -> None:
        self.services = services
        self._by_name_ns: dict[tuple[str, str], LabelledService] = {}
        self._by_host: dict[str, LabelledService] = {}
        for s in services:
            if s.obj.kind == "Service":
                self._by_name_ns.setdefault((s.obj.name, s.obj.namespace), s)
            for h in s.hosts:
                self._by_host.setdefault(h, s)
        # Every Service and ServiceEntry given, labelled or not: a host absent from them is not known
        # to be unlabelled (it was simply not given).
        self._given_name_ns: set[tuple[str, str]] = set()
        self._given_hosts: set[str] = set()
        for obj in given or ():
            if obj.kind == "Service":
                self._given_name_ns.add((obj.name, obj.namespace))
            elif obj.kind == "ServiceEntry":
                spec = obj.raw.get("spec")
                hosts = spec.get("hosts") if isinstance(spec, dict) else None
                if isinstance(hosts, list):
                    self._given_hosts.update(h for h in hosts if isinstance(h, str))

    def given(self, host: str) -> bool:
        """Whether a Service or ServiceEntry for ``host`` was given (labelled or not)."""
        if host in self._given_hosts or host in self._by_host:
            return True
        parts = host.split(".")
        key = (parts[0], parts[1]) if len(parts) >= 3 and parts[2] == "svc" else None
        return key is not None and (key in self._given_name_ns or key in self._by_name_ns)

    def lookup(self, host: str) -> LabelledService | None:
        found = self._by_host.get(host)
        if found is not None:
            return found
        # <name>.<namespace>.svc.<cluster domain>: the domain varies (cluster.local by default).
        parts = host.split(".")
        if len(parts) >= 3 and parts[2] == "svc":
            return self._by_name_ns.get((parts[0], parts[1]))
        return None


# ---------------------------------------------------------------------------------------------
# istiod


@dataclass(frozen=True)
class IstiodSettings:
    obj: K8sObject
    flag: str | None
    """The raw env value of PILOT_ENABLE_PERSISTENT_SESSION_FILTER (None: unset)."""
    flag_from_ref: bool
    """The value comes from valueFrom (ConfigMap/Secret ref): not verifiable from the manifest."""
    cookie_key: str
    header_key: str

    @property
    def revision(self) -> str:
        return self.obj.labels.get("istio.io/rev", "default")

    @property
    def flag_on(self) -> bool:
        # istiod reads it with Go's strconv.ParseBool.
        return (self.flag or "").strip() in ("1", "t", "T", "true", "TRUE", "True")


def discovery_container(deployment: dict[str, Any]) -> dict[str, Any] | None:
    """istiod's container in a Deployment: named ``discovery``, or running a pilot image."""
    spec = deployment.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    pod_spec = template.get("spec") if isinstance(template, dict) else None
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    if not isinstance(containers, list):
        return None
    for c in containers:
        if isinstance(c, dict) and (c.get("name") == "discovery" or "pilot" in str(c.get("image", ""))):
            return c
    return None


def istiod_settings(obj: K8sObject) -> IstiodSettings | None:
    if obj.kind != "Deployment":
        return None
    c = discovery_container(obj.raw)
    if c is None:
        return None
    env: dict[str, str | None] = {}
    refs: set[str] = set()
    for e in c.get("env", []) or []:
        if isinstance(e, dict) and isinstance(e.get("name"), str):
            if "valueFrom" in e:
                refs.add(e["name"])
            env[e["name"]] = None if e.get("value") is None else str(e.get("value"))
    return IstiodSettings(
        obj,
        env.get(FLAG_ENV),
        FLAG_ENV in refs,
        env.get(COOKIE_LABEL_ENV) or COOKIE_LABEL,
        env.get(HEADER_LABEL_ENV) or HEADER_LABEL,
    )
