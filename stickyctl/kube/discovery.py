"""What a live check reads from the API besides the config dumps.

Required (a failure ends the run with one line naming the permission, see docs/rbac.yaml):
pods in the gateways' namespace, Services in all namespaces, Deployments in the Istio namespace.
Optional (forbidden or absent: a warning saying what was skipped): ServiceEntries and Gateway API
routes (only when those APIs are installed), and the workloads STK0104 looks at (Deployments,
StatefulSets and DaemonSets in all namespaces; bare Pods carrying a session label).

Objects are kept reduced to what the checks read (labels, the annotations STK0104 reads, the pod
template's labels, a Service's ports and selector, a ServiceEntry's hosts, a route's rules, istiod's
persistent-session env): no container env, no status, no managedFields, no Secrets, ever.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stickyctl.istio.labels import LabelKeys, session_related
from stickyctl.istio.manifests import COOKIE_LABEL_ENV, FLAG_ENV, HEADER_LABEL_ENV, discovery_container
from stickyctl.kube.client import Access, ApiForbidden, ApiNotFound, Cluster, KubeError

PROXY_CONTAINER = "istio-proxy"
REVISION_KEY = "istio.io/rev"
ISTIOD_ENV = (FLAG_ENV, COOKIE_LABEL_ENV, HEADER_LABEL_ENV)
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _str_map(value: object) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    return [c for c in (spec.get("containers") or []) if isinstance(c, dict)]


def proxy_container(pod: dict[str, Any]) -> dict[str, Any] | None:
    for c in _containers(pod):
        if c.get("name") == PROXY_CONTAINER:
            return c
    return None


def proxy_role(pod: dict[str, Any]) -> str | None:
    """router | sidecar | waypoint | … from ``pilot-agent proxy <role>`` args; None without a proxy."""
    c = proxy_container(pod)
    if c is None:
        return None
    args = [str(a) for a in (c.get("args") or [])]
    for i, a in enumerate(args[:-1]):
        if a == "proxy":
            return args[i + 1]
    return "unknown"


def is_gateway(pod: dict[str, Any]) -> bool:
    return proxy_role(pod) == "router"


def pod_revision(pod: dict[str, Any]) -> str:
    """The istiod revision a proxy follows: the injector's annotation, else the label, else default."""
    meta = _meta(pod)
    rev = _str_map(meta.get("annotations")).get(REVISION_KEY) or _str_map(meta.get("labels")).get(REVISION_KEY)
    return rev or "default"


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    node: str | None
    pod_ip: str | None
    phase: str
    ready: bool
    terminating: bool
    revision: str
    proxy_image: str | None
    has_proxy: bool

    @classmethod
    def of(cls, pod: dict[str, Any]) -> PodInfo:
        meta = _meta(pod)
        spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
        status = pod.get("status") if isinstance(pod.get("status"), dict) else {}
        assert isinstance(spec, dict) and isinstance(status, dict)
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        proxy = proxy_container(pod)
        return cls(
            namespace=str(meta.get("namespace") or "default"),
            name=str(meta.get("name") or ""),
            node=str(spec["nodeName"]) if spec.get("nodeName") else None,
            pod_ip=str(status["podIP"]) if status.get("podIP") else None,
            phase=str(status.get("phase") or "Unknown"),
            ready=ready,
            terminating=bool(meta.get("deletionTimestamp")),
            revision=pod_revision(pod),
            proxy_image=str(proxy.get("image")) if proxy and proxy.get("image") else None,
            has_proxy=proxy is not None,
        )


# ---------------------------------------------------------------------------------------------
# Gateway pods


def pods_path(namespace: str | None) -> str:
    return f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"


@dataclass
class PodSelection:
    pods: list[PodInfo]
    missing: list[tuple[str, str]]
    """(namespace, name) of pods asked for with --pod that do not exist."""


def select_pods(cluster: Cluster, *, namespace: str | None, selector: str | None, names: list[str]) -> PodSelection:
    """--pod NAMEs in ``namespace``; else pods matching ``-l`` (any proxy); else the gateways."""
    if names:
        assert namespace is not None
        found: list[PodInfo] = []
        missing: list[tuple[str, str]] = []
        for name in dict.fromkeys(names):
            try:
                pod = cluster.get(f"/api/v1/namespaces/{namespace}/pods/{name}",
                                  access=Access("get", "pods", namespace))
            except ApiNotFound:
                missing.append((namespace, name))
                continue
            found.append(PodInfo.of(pod))
        return PodSelection(found, missing)
    query = [("labelSelector", selector)] if selector else []
    pods = cluster.list_all(pods_path(namespace), query, access=Access("list", "pods", namespace))
    chosen = pods if selector else [p for p in pods if is_gateway(p)]
    infos = sorted((PodInfo.of(p) for p in chosen), key=lambda p: (p.namespace, p.name))
    return PodSelection(infos, [])


# ---------------------------------------------------------------------------------------------
# Objects: reduced to what the checks read


def _reduced_meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = _meta(obj)
    out: dict[str, Any] = {"name": meta.get("name"), "namespace": meta.get("namespace")}
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    annotations = {k: v for k, v in _str_map(meta.get("annotations")).items() if k not in _DROP_ANNOTATIONS}
    if annotations:
        out["annotations"] = annotations
    if meta.get("ownerReferences"):
        out["ownerReferences"] = [{k: r.get(k) for k in ("apiVersion", "kind", "name", "controller") if k in r}
                                  for r in meta["ownerReferences"] if isinstance(r, dict)]
    return {k: v for k, v in out.items() if v is not None}


def _head(obj: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    return {"apiVersion": obj.get("apiVersion") or api_version, "kind": obj.get("kind") or kind,
            "metadata": _reduced_meta(obj)}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def reduce_service(obj: dict[str, Any]) -> dict[str, Any]:
    out = _head(obj, "Service", "v1")
    spec = _spec(obj)
    out["spec"] = {k: spec[k] for k in ("ports", "selector", "type") if k in spec}
    return out


def reduce_service_entry(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    out = _head(obj, "ServiceEntry", api_version)
    spec = _spec(obj)
    out["spec"] = {k: spec[k] for k in ("hosts", "ports", "location", "resolution") if k in spec}
    return out


def reduce_workload(obj: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    out = _head(obj, kind, api_version)
    template = _spec(obj).get("template")
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    if isinstance(tmeta, dict) and tmeta.get("labels"):
        out["spec"] = {"template": {"metadata": {"labels": dict(tmeta["labels"])}}}
    return out


def reduce_route(obj: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    out = _head(obj, kind, api_version)
    spec = _spec(obj)
    out["spec"] = {k: spec[k] for k in ("parentRefs", "hostnames", "rules", "targetRefs", "sessionPersistence")
                   if k in spec}
    return out


def reduce_istiod(obj: dict[str, Any]) -> dict[str, Any] | None:
    """An istiod Deployment cut to its identity, image and persistent-session env (nothing else of
    its env: values there may be secret)."""
    c = discovery_container(obj)
    if c is None:
        return None
    env = [e for e in c.get("env") or [] if isinstance(e, dict) and e.get("name") in ISTIOD_ENV]
    container: dict[str, Any] = {"name": c.get("name"), "image": c.get("image")}
    if env:
        container["env"] = env
    out = _head(obj, "Deployment", "apps/v1")
    out["spec"] = {"template": {"spec": {"containers": [container]}}}
    return out


# ---------------------------------------------------------------------------------------------
# Reading the cluster


@dataclass
class ObjectsRead:
    objects: list[dict[str, Any]] = field(default_factory=list)
    """Services, ServiceEntries, workloads and routes (reduced)."""
    istiod: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Optional reads that were skipped, and why (forbidden or not installed)."""


def _optional(read: ObjectsRead, what: str, skipped: str, fn: Callable[[], list[dict[str, Any]]]) -> None:
    try:
        read.objects.extend(fn())
    except ApiForbidden as exc:
        read.warnings.append(f"{what} not read ({skipped} not checked): forbidden, needs {exc.access.describe()}")
    except ApiNotFound:
        read.warnings.append(f"{what} not read ({skipped} not checked): the API is not served")


def _list_reduced(cluster: Cluster, path: str, access: Access,
                  reduce: Callable[[dict[str, Any]], dict[str, Any] | None]) -> list[dict[str, Any]]:
    out = []
    for item in cluster.list_all(path, access=access):
        r = reduce(item)
        if r is not None:
            out.append(r)
    return out


def _reader(cluster: Cluster, path: str, access: Access,
            reduce: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Callable[[], list[dict[str, Any]]]:
    def read() -> list[dict[str, Any]]:
        return _list_reduced(cluster, path, access, reduce)

    return read


def read_objects(cluster: Cluster, *, istio_namespace: str, keys: LabelKeys) -> ObjectsRead:
    read = ObjectsRead()
    groups = cluster.api_groups()

    # Required: Services in every namespace (routes lead anywhere), istiod in the Istio namespace.
    read.objects.extend(_list_reduced(cluster, "/api/v1/services", Access("list", "services"), reduce_service))
    deployments = cluster.list_all(f"/apis/apps/v1/namespaces/{istio_namespace}/deployments",
                               access=Access("list", "deployments.apps", istio_namespace))
    read.istiod = [d for d in (reduce_istiod(x) for x in deployments) if d is not None]

    # Optional: ServiceEntries, when Istio's networking API is installed.
    istio = groups.get("networking.istio.io")
    if istio is None:
        read.warnings.append("ServiceEntries not read: networking.istio.io is not installed in this cluster")
    else:
        version = istio[0]
        api_version = f"networking.istio.io/{version}"
        _optional(read, "ServiceEntries", "session labels on ServiceEntries", _reader(
            cluster, f"/apis/networking.istio.io/{version}/serviceentries",
            Access("list", "serviceentries.networking.istio.io"),
            functools.partial(reduce_service_entry, api_version=api_version)))

    # Optional: Gateway API routes (sessionPersistence, STK0106), when installed.
    gw = groups.get("gateway.networking.k8s.io")
    if gw is None:
        read.warnings.append("Gateway API routes not read (STK0106 not checked): gateway.networking.k8s.io is not "
                             "installed in this cluster")
    else:
        version = gw[0]
        served = cluster.resources("gateway.networking.k8s.io", version)
        for plural, kind in (("httproutes", "HTTPRoute"), ("grpcroutes", "GRPCRoute")):
            if plural not in served:
                continue
            api_version = f"gateway.networking.k8s.io/{version}"
            _optional(read, f"{kind}s", "STK0106", _reader(
                cluster, f"/apis/gateway.networking.k8s.io/{version}/{plural}",
                Access("list", f"{plural}.gateway.networking.k8s.io"),
                functools.partial(reduce_route, kind=kind, api_version=api_version)))

    # Optional: workloads and bare pods that may carry session labels by mistake (STK0104).
    for plural, kind in (("deployments", "Deployment"), ("statefulsets", "StatefulSet"),
                         ("daemonsets", "DaemonSet")):
        _optional(read, f"{kind}s in all namespaces", "session labels on workloads (STK0104)", _reader(
            cluster, f"/apis/apps/v1/{plural}", Access("list", f"{plural}.apps"),
            functools.partial(reduce_workload, kind=kind, api_version="apps/v1")))
    seen_pods: set[tuple[str, str]] = set()

    def labelled_pods() -> list[dict[str, Any]]:
        out = []
        for key in dict.fromkeys((keys.cookie, keys.header)):
            for pod in cluster.list_all("/api/v1/pods", [("labelSelector", key)], access=Access("list", "pods")):
                meta = _meta(pod)
                ident = (str(meta.get("namespace")), str(meta.get("name")))
                # A controller's pods repeat their template: the workload is reported instead.
                if ident in seen_pods or any(isinstance(r, dict) and r.get("controller")
                                             for r in meta.get("ownerReferences") or []):
                    continue
                seen_pods.add(ident)
                out.append(reduce_workload(pod, "Pod", "v1"))
        return out

    _optional(read, "Pods with a session label", "session labels on bare Pods (STK0104)", labelled_pods)
    for obj in (*read.objects, *read.istiod):
        _keep_session_annotations(obj, keys)
    return read


def _keep_session_annotations(obj: dict[str, Any], keys: LabelKeys) -> None:
    """Annotations are free text (tokens have been seen there): keep only those the checks read
    (a session label written as an annotation, STK0104) and the revision; snapshots hold no more."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("annotations"), dict):
        return
    annotations: dict[str, Any] = meta["annotations"]
    kept = {k: v for k, v in annotations.items() if k == REVISION_KEY or session_related(k, keys)}
    if kept:
        meta["annotations"] = kept
    else:
        del meta["annotations"]


def server_version(cluster: Cluster) -> str:
    """gitVersion of the API server; raises ApiUnreachable/ApiUnauthorized (the first request)."""
    try:
        doc = cluster.version()
    except ApiForbidden:  # /version is normally open to every authenticated user
        return "unknown"
    except ApiNotFound:
        return "unknown"
    except KubeError:
        raise
    return str(doc.get("gitVersion") or "unknown")
