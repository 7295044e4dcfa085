"""A cluster's objects as the API server would hold them: the input of istiod's recorder.

``scripts/record_istiod.py`` runs istiod's own code on a scenario directory (``cluster.yaml``,
``proxy.yaml``, ``istiod.yaml``; docs/fidelity.md). The builders here write such directories for
Istio's helloworld sample behind an ingress gateway and its variants (``scripts/istiod_scenarios.py``),
and the lab states the lab-vs-istiod test compares. They are plain manifests: everything istiod
makes of them comes from istiod.

What a real cluster adds that istiod reads, and these builders therefore write out: the
EndpointSlices the endpoint-slice controller keeps (with the ready/serving/terminating conditions
istiod maps to HEALTHY, DRAINING or dropped, pilot/pkg/serviceregistry/kube/controller/
endpointslice.go ``endpointHealthStatus``), the Pods' IPs and labels, and for a Gateway API gateway
the ``<name>-istio`` Service Istio's deployment controller makes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from stickyctl.lab.scenarios import Design
    from stickyctl.lab.state import Pod as LabPod

JSON = dict[str, Any]

COOKIE_LABEL = "istio.io/persistent-session"
HEADER_LABEL = "istio.io/persistent-session-header"
USE_WAYPOINT = "istio.io/use-waypoint"
HELLOWORLD = "helloworld"
HELLOWORLD_PORT = 5000
GATEWAY_NAMESPACE = "istio-ingress"
GATEWAY_POD = "istio-ingressgateway-6b7f9c8d5-x7k2p"
GATEWAY_IP = "10.244.0.7"
GATEWAY_LABELS: Mapping[str, str] = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
PROXY_IMAGE = "docker.io/istio/proxyv2:1.31-dev"

EndpointState = Literal["ready", "terminating", "not-ready"]


@dataclass(frozen=True)
class Workload:
    """One Pod of a workload, as its EndpointSlice entry and the Pod itself show it."""

    name: str
    namespace: str
    ip: str
    labels: Mapping[str, str]
    state: EndpointState = "ready"
    port: int = HELLOWORLD_PORT

    def conditions(self) -> JSON:
        # What the endpoint-slice controller writes (Kubernetes 1.26+): a terminating pod that still
        # passes readiness is serving but not ready; one that fails it is neither.
        return {
            "ready": {"ready": True, "serving": True, "terminating": False},
            "terminating": {"ready": False, "serving": True, "terminating": True},
            "not-ready": {"ready": False, "serving": False, "terminating": False},
        }[self.state]


def helloworld_pods(
    count: int = 6, *, first_ip: int = 11, versions: Sequence[str] = ("v1", "v2"), app: str = HELLOWORLD,
    namespace: str = HELLOWORLD, port: int = HELLOWORLD_PORT, extra_labels: Mapping[str, str] | None = None,
) -> list[Workload]:  # fmt: skip
    """``count`` helloworld pods split evenly over ``versions`` at 127.0.0.<first_ip>… (the lab's backends)."""
    per_version = max(1, count // len(versions))
    pods = []
    for i in range(count):
        version = versions[min(i // per_version, len(versions) - 1)]
        labels = {
            "app": app,
            "version": version,
            "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": app,
            "service.istio.io/canonical-revision": version,
            **(extra_labels or {}),
        }
        name = f"{app}-{version}-5d4f8b7c9-{i:05d}"
        pods.append(Workload(name, namespace, f"127.0.0.{first_ip + i}", labels, port=port))
    return pods


def with_state(pods: Sequence[Workload], index: int, state: EndpointState) -> list[Workload]:
    out = list(pods)
    out[index] = replace(out[index], state=state)
    return out


def namespace(name: str, labels: Mapping[str, str] | None = None) -> JSON:
    meta: JSON = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service(
    name: str, namespace: str = HELLOWORLD, *, port: int = HELLOWORLD_PORT, labels: Mapping[str, str] | None = None,
    selector: Mapping[str, str] | None = None, port_name: str = "http",
) -> JSON:  # fmt: skip
    meta: JSON = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "selector": dict(selector if selector is not None else {"app": name}),
            "ports": [{"name": port_name, "port": port, "targetPort": port}],
        },
    }


def pod(w: Workload, *, containers: Sequence[JSON] | None = None, owner: str | None = None) -> JSON:
    meta: JSON = {"name": w.name, "namespace": w.namespace, "labels": dict(w.labels)}
    if w.state == "terminating":
        meta["deletionTimestamp"] = "2026-01-01T00:05:00Z"
        meta["deletionGracePeriodSeconds"] = 30
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": f"uid-{owner}"}
        ]
    ready = "True" if w.state == "ready" else "False"
    app = w.labels.get("app", w.name)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": list(containers)
            if containers is not None
            else [
                {"name": app, "image": f"docker.io/istio/examples-{app}:1.0", "ports": [{"containerPort": w.port}]},
                {"name": "istio-proxy", "image": PROXY_IMAGE},
            ]
        },
        "status": {"phase": "Running", "podIP": w.ip, "conditions": [{"type": "Ready", "status": ready}]},
    }


def endpoint_slice(service_name: str, pods: Sequence[Workload], *, namespace: str = HELLOWORLD,
                   port: int = HELLOWORLD_PORT, port_name: str = "http") -> JSON:  # fmt: skip
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-x7f2k",
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": service_name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [p.ip],
                "conditions": p.conditions(),
                "targetRef": {"kind": "Pod", "name": p.name, "namespace": p.namespace},
            }
            for p in pods
        ],
    }


def deployment(name: str, namespace: str, labels: Mapping[str, str], pod_labels: Mapping[str, str],
               replicas: int = 3) -> JSON:  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {k: v for k, v in pod_labels.items() if k in ("app", "version")}},
            "template": {
                "metadata": {"labels": dict(pod_labels)},
                "spec": {"containers": [{"name": "app", "image": "docker.io/istio/examples-helloworld-v1:1.0"}]},
            },
        },
    }


# --- the ingress gateway -------------------------------------------------------------------------


def ingress_gateway(namespace_name: str = GATEWAY_NAMESPACE) -> list[JSON]:
    """Istio's default ingress gateway: its Service (80 -> 8080, as the Helm chart makes it) and one Pod."""
    labels = dict(GATEWAY_LABELS)
    gw = Workload(GATEWAY_POD, namespace_name, GATEWAY_IP, {**labels, "sidecar.istio.io/inject": "false"}, port=8080)
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "istio-ingressgateway", "namespace": namespace_name, "labels": labels},
        "spec": {
            "type": "LoadBalancer",
            "selector": labels,
            "ports": [
                {"name": "status-port", "port": 15021, "targetPort": 15021},
                {"name": "http2", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443},
            ],
        },
    }
    return [namespace(namespace_name), svc, pod(gw, containers=[{"name": "istio-proxy", "image": PROXY_IMAGE}])]


# --- ambient --------------------------------------------------------------------------------------

WAYPOINT = "waypoint"
WAYPOINT_MANAGED_LABELS: Mapping[str, str] = {
    "gateway.networking.k8s.io/gateway-name": WAYPOINT,
    "gateway.istio.io/managed": "istio.io-mesh-controller",
    "istio.io/gateway-name": WAYPOINT,
}


def with_cluster_ip(objects: Sequence[JSON], addresses: Mapping[str, str]) -> list[JSON]:
    """``objects`` with ``spec.clusterIP`` on the Services named in ``addresses`` (name -> IP), as the
    API server assigns it. istiod sends a gateway to a Service's waypoint only when the Service has
    a VIP (pilot/pkg/xds/endpoints/endpoint_builder.go findServiceWaypoint: HasAddressOrAssigned)."""
    out = []
    for o in objects:
        if o.get("kind") == "Service" and o["metadata"]["name"] in addresses:
            o = {**o, "spec": {**o["spec"], "clusterIP": addresses[o["metadata"]["name"]]}}
        out.append(o)
    return out


def waypoint(namespace_name: str = HELLOWORLD, ip: str = "127.0.0.31", cluster_ip: str = "10.96.0.31") -> list[JSON]:
    """A service waypoint as ``istioctl waypoint apply -n NS`` leaves it on a cluster: the Gateway of
    class ``istio-waypoint`` (HBONE listener 15008) with the address Istio's deployment controller
    writes to its status once a waypoint pod is ready, the Service that controller makes for it, its
    one Pod and EndpointSlice. istiod's ambient index takes a Gateway as a waypoint only once
    ``status.addresses`` is set (pilot/pkg/serviceregistry/ambient/waypoints.go
    gatewayToWaypointTransform)."""
    labels = dict(WAYPOINT_MANAGED_LABELS)
    pod_ = Workload(f"{WAYPOINT}-7d9f6b8c5-w1a2b", namespace_name, ip, labels, port=15008)
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": WAYPOINT, "namespace": namespace_name, "labels": {"istio.io/waypoint-for": "service"}},
        "spec": {"gatewayClassName": "istio-waypoint",
                 "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]},
        "status": {"addresses": [{"type": "Hostname", "value": f"{WAYPOINT}.{namespace_name}.svc.cluster.local"}]},
    }  # fmt: skip
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": WAYPOINT, "namespace": namespace_name, "labels": labels},
        "spec": {
            "clusterIP": cluster_ip,
            "selector": {"gateway.networking.k8s.io/gateway-name": WAYPOINT},
            "ports": [{"name": "status-port", "port": 15021, "targetPort": 15021},
                      {"name": "mesh", "port": 15008, "targetPort": 15008, "appProtocol": "hbone"}],
        },
    }  # fmt: skip
    return [gateway, svc, pod(pod_, containers=[{"name": "istio-proxy", "image": PROXY_IMAGE}]),
            endpoint_slice(WAYPOINT, [pod_], namespace=namespace_name, port=15008, port_name="mesh")]


def router_proxy(namespace_name: str = GATEWAY_NAMESPACE, name: str = GATEWAY_POD, ip: str = GATEWAY_IP,
                 labels: Mapping[str, str] | None = None, istio_version: str | None = None) -> JSON:  # fmt: skip
    proxy: JSON = {
        "type": "router",
        "namespace": namespace_name,
        "name": name,
        "ip": ip,
        "labels": dict(labels if labels is not None else {**GATEWAY_LABELS, "sidecar.istio.io/inject": "false"}),
    }
    if istio_version:
        proxy["istioVersion"] = istio_version
    return proxy


def istio_gateway(name: str = "helloworld-gateway", namespace_name: str = HELLOWORLD,
                  hosts: Sequence[str] = ("*",), port: int = 80) -> JSON:  # fmt: skip
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace_name},
        "spec": {
            "selector": {"istio": GATEWAY_LABELS["istio"]},
            "servers": [{"port": {"number": port, "name": "http", "protocol": "HTTP"}, "hosts": list(hosts)}],
        },
    }


@dataclass(frozen=True)
class Destination:
    host: str
    port: int = HELLOWORLD_PORT
    weight: int | None = None
    subset: str | None = None

    def to_json(self) -> JSON:
        dest: JSON = {"host": self.host, "port": {"number": self.port}}
        if self.subset:
            dest["subset"] = self.subset
        out: JSON = {"destination": dest}
        if self.weight is not None:
            out["weight"] = self.weight
        return out


@dataclass(frozen=True)
class HttpRoute:
    """One ``http`` entry of a VirtualService."""

    destinations: Sequence[Destination]
    exact: str | None = "/hello"
    prefix: str | None = None
    name: str | None = None

    def to_json(self) -> JSON:
        out: JSON = {}
        if self.name:
            out["name"] = self.name
        if self.exact is not None:
            out["match"] = [{"uri": {"exact": self.exact}}]
        elif self.prefix is not None:
            out["match"] = [{"uri": {"prefix": self.prefix}}]
        out["route"] = [d.to_json() for d in self.destinations]
        return out


def virtual_service(
    name: str, routes: Sequence[HttpRoute], *, namespace_name: str = HELLOWORLD, hosts: Sequence[str] = ("*",),
    gateways: Sequence[str] | None = ("helloworld-gateway",),
) -> JSON:  # fmt: skip
    spec: JSON = {"hosts": list(hosts)}
    if gateways is not None:
        spec["gateways"] = list(gateways)
    spec["http"] = [r.to_json() for r in routes]
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace_name},
        "spec": spec,
    }


def destination_rule(host: str, subsets: Sequence[str], *, namespace_name: str = HELLOWORLD,
                     name: str | None = None) -> JSON:  # fmt: skip
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": name or host.split(".")[0], "namespace": namespace_name},
        "spec": {"host": host, "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]},
    }


# --- a scenario directory ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioSpec:
    """One SCENARIO_DIR: the objects, the proxy and istiod's settings."""

    objects: Sequence[JSON]
    proxy: JSON = field(default_factory=router_proxy)
    istiod_env: Mapping[str, str] = field(default_factory=lambda: {"PILOT_ENABLE_PERSISTENT_SESSION_FILTER": "true"})

    def write(self, directory: Path, *, header: str = "") -> None:
        import yaml

        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cluster.yaml").write_text(header + yaml.safe_dump_all(list(self.objects), sort_keys=False))
        (directory / "proxy.yaml").write_text(header + yaml.safe_dump(self.proxy, sort_keys=False))
        env_path = directory / "istiod.yaml"
        if self.istiod_env:
            env_path.write_text(header + yaml.safe_dump({"env": dict(self.istiod_env)}, sort_keys=False))
        else:
            env_path.unlink(missing_ok=True)


def helloworld_app(
    pods: Sequence[Workload] | None = None, *, service_labels: Mapping[str, str] | None = None,
    name: str = HELLOWORLD, namespace_name: str = HELLOWORLD,
) -> list[JSON]:  # fmt: skip
    """The helloworld Service (labels of the sample plus ``service_labels``), its pods and EndpointSlice."""
    pods = list(pods if pods is not None else helloworld_pods(app=name, namespace=namespace_name))
    labels = {"app": name, "service": name, **(service_labels or {})}
    objs = [service(name, namespace_name, labels=labels, selector={"app": name})]
    objs += [pod(p) for p in pods]
    objs.append(endpoint_slice(name, pods, namespace=namespace_name))
    return objs


# --- a running lab, as a cluster would hold it ---------------------------------------------------


def consistent_hash_rule(host: str, header: str, *, namespace_name: str = HELLOWORLD) -> JSON:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": host.split(".")[0], "namespace": namespace_name},
        "spec": {"host": host, "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": header}}}},
    }


LAB_TOPOLOGIES = ("helloworld", "weighted", "weighted-mixed", "subset")
"""The lab's topologies a cluster can express; the others (a stale route config, a missing cluster,
hosts only the lab serves) are defects istiod does not make from manifests."""


def lab_scenario(design: Design, pods: Sequence[LabPod]) -> ScenarioSpec | None:
    """The objects a cluster would hold for a lab running ``design`` with these pods, for
    scripts/record_istiod.py (None where the design's topology is not expressible: see
    :data:`LAB_TOPOLOGIES`). A draining lab pod is a terminating one (serving, not ready); a killed
    one is still ready in its EndpointSlice (the window before Kubernetes notices). ``--break``
    defects are changes made to istiod's output: the manifests are the seed's, so a recording shows
    what istiod would have generated instead."""
    if design.topology not in LAB_TOPOLOGIES:
        return None
    state: dict[str, EndpointState] = {"serving": "ready", "draining": "terminating", "killed": "ready"}
    workloads = [
        Workload(
            p.name, HELLOWORLD, p.address,
            {"app": HELLOWORLD, "version": p.version, "security.istio.io/tlsMode": "istio",
             "service.istio.io/canonical-name": HELLOWORLD, "service.istio.io/canonical-revision": p.version},
            state=state[p.status], port=p.port,
        )
        for p in pods
    ]  # fmt: skip
    labels = design.session_labels()
    objs: list[JSON] = [*ingress_gateway(), namespace(HELLOWORLD, {"istio-injection": "enabled"})]
    objs += [pod(w) for w in workloads]
    hello = Destination(HELLOWORLD)
    if design.topology in ("weighted", "weighted-mixed"):
        for version, labelled in (("v1", True), ("v2", design.topology == "weighted")):
            name = f"{HELLOWORLD}-{version}"
            objs.append(service(name, labels=labels if labelled else None,
                                selector={"app": HELLOWORLD, "version": version}))  # fmt: skip
            objs.append(endpoint_slice(name, [w for w in workloads if w.labels["version"] == version]))
        route = HttpRoute([Destination(f"{HELLOWORLD}-v1", weight=90), Destination(f"{HELLOWORLD}-v2", weight=10)])
    else:
        objs.append(service(HELLOWORLD, labels={"app": HELLOWORLD, "service": HELLOWORLD, **labels}))
        objs.append(endpoint_slice(HELLOWORLD, workloads))
        route = HttpRoute([Destination(HELLOWORLD, subset="v1") if design.topology == "subset" else hello])
    if design.topology == "subset":
        objs.append(destination_rule(HELLOWORLD, ["v1", "v2"]))
    if design.mode == "consistent-hash":
        objs.append(consistent_hash_rule(HELLOWORLD, design.hash_policy()[0]["header"]["header_name"]))
    objs += [istio_gateway(), virtual_service(HELLOWORLD, [route])]
    return ScenarioSpec(objs)
