"""The istiod scenarios of the checks (issue 14): each shows one check's verdict on what istiod's own
code generates. Merged into ``istiod_scenarios.SCENARIOS``; see that module for the format.

Imported by scripts/istiod_scenarios.py once its builders and ``Entry`` exist (it registers itself
under its module name first, so this import finds it whether it runs as a script or is loaded).
"""

from __future__ import annotations

import copy
from typing import Any

import istiod_scenarios as base

from stickyctl.lab import cluster as c

JSON = dict[str, Any]
Entry = base.Entry
GW, GW_API, ISTIOD, HW = base.GW, base.GW_API, base.ISTIOD, base.HW
FLAG_ON, HEADER_LABELS, COOKIE_LABELS = base.FLAG_ON, base.HEADER_LABELS, base.COOKIE_LABELS
NS = c.HELLOWORLD


def _cluster(host: str, port: int = c.HELLOWORLD_PORT) -> str:
    return f"outbound|{port}||{host}"


DROPPED = ("STK0404", f"{GW}/cluster:{_cluster(HW)}")


# --- STK0201: no filter where nothing is sticky; sidecars ----------------------------------------------------


def flag_off_unlabelled() -> c.ScenarioSpec:
    return c.ScenarioSpec(base.gateway_seed({}), istiod_env={})


SLEEP = c.Workload("sleep-6c9f8d7b5-s1e2p", NS, "10.244.0.20", {"app": "sleep", "security.istio.io/tlsMode": "istio"},
                   port=8080)
SIDECAR = f"proxy:{SLEEP.name}.{NS}"


def _sidecar_client(service_labels: dict[str, str], env: dict[str, str]) -> c.ScenarioSpec:
    """A sleep pod's sidecar calling helloworld (mesh traffic: outbound listener 0.0.0.0_5000)."""
    objs = [
        c.namespace(NS, {"istio-injection": "enabled"}),
        *c.helloworld_app(service_labels=service_labels),
        c.pod(SLEEP, containers=[{"name": "sleep", "image": "curlimages/curl"},
                                 {"name": "istio-proxy", "image": c.PROXY_IMAGE}]),
    ]
    proxy = {"type": "sidecar", "namespace": NS, "name": SLEEP.name, "ip": SLEEP.ip, "labels": dict(SLEEP.labels)}
    return c.ScenarioSpec(objs, proxy=proxy, istiod_env=env)


def sidecar_flag_off_unlabelled() -> c.ScenarioSpec:
    return _sidecar_client({}, {})


def sidecar_header() -> c.ScenarioSpec:
    return _sidecar_client(HEADER_LABELS, FLAG_ON)


def as_istio_1_9(dump: JSON) -> JSON:
    """The proxy says Istio 1.9.9 (node.metadata.ISTIO_VERSION): an Istio with no session label at all.
    Nothing else changes: istiod 1.9 would have generated no session filter either."""
    out = copy.deepcopy(dump)
    for section in out["configs"]:
        if section.get("@type", "").endswith("BootstrapConfigDump"):
            section["bootstrap"]["node"]["metadata"]["ISTIO_VERSION"] = "1.9.9"
    return out


# --- STK0205: the filter on sidecar inbound, by EnvoyFilter ---------------------------------------------------

HELLO_POD = c.helloworld_pods()[0]
HELLO_SIDECAR = f"proxy:{HELLO_POD.name}.{NS}"

INBOUND_ENVOYFILTER: JSON = {
    "apiVersion": "networking.istio.io/v1alpha3",
    "kind": "EnvoyFilter",
    "metadata": {"name": "sticky-inbound", "namespace": NS},
    "spec": {
        "workloadSelector": {"labels": {"app": c.HELLOWORLD}},
        "configPatches": [{
            "applyTo": "HTTP_FILTER",
            "match": {"context": "SIDECAR_INBOUND", "listener": {"filterChain": {"filter": {
                "name": "envoy.filters.network.http_connection_manager",
                "subFilter": {"name": "envoy.filters.http.router"}}}}},
            "patch": {"operation": "INSERT_BEFORE", "value": {
                "name": "envoy.filters.http.stateful_session",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession",
                    "session_state": {
                        "name": "envoy.http.stateful_session.header",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.header.v3."
                                     "HeaderBasedSessionState",
                            "name": "x-session-header",
                        },
                    },
                },
            }},
        }],
    },
}


def envoyfilter_sidecar_inbound() -> c.ScenarioSpec:
    """helloworld's own sidecar, flag off, no label, and the EnvoyFilter users write (envoy#21584)."""
    objs = [c.namespace(NS, {"istio-injection": "enabled"}), *c.helloworld_app(), INBOUND_ENVOYFILTER]
    proxy = {"type": "sidecar", "namespace": NS, "name": HELLO_POD.name, "ip": HELLO_POD.ip,
             "labels": dict(HELLO_POD.labels)}
    return c.ScenarioSpec(objs, proxy=proxy, istiod_env={})


# --- not given is not unlabelled ------------------------------------------------------------------------------


def without_helloworld_service(objects: list[JSON]) -> list[JSON]:
    """The cluster's objects without the helloworld Service: a manifest directory that lacks one Service."""
    return [o for o in objects if not (o.get("kind") == "Service" and o["metadata"]["name"] == c.HELLOWORLD)]


# --- STK0302: a weighted route to two labelled Services with different names ----------------------------------


def _version_app(name: str, version: str, first_ip: int, labels: dict[str, str]) -> list[JSON]:
    pods = c.helloworld_pods(3, first_ip=first_ip, versions=(version,), app=name)
    return c.helloworld_app(pods, service_labels=labels, name=name)


def weighted_two_header_names() -> c.ScenarioSpec:
    objs = [
        *c.ingress_gateway(),
        c.namespace(NS, {"istio-injection": "enabled"}),
        *_version_app("helloworld-v1", "v1", 11, {c.HEADER_LABEL: "x-session-a"}),
        *_version_app("helloworld-v2", "v2", 14, {c.HEADER_LABEL: "x-session-b"}),
        c.istio_gateway(),
        c.virtual_service(c.HELLOWORLD, [c.HttpRoute([c.Destination("helloworld-v1", weight=50),
                                                      c.Destination("helloworld-v2", weight=50)])]),
    ]
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


# --- STK0311: one cookie name for two Services ----------------------------------------------------------------


def shared_cookie_name() -> c.ScenarioSpec:
    cart_pods = c.helloworld_pods(2, first_ip=21, versions=("v1",), app="cart")
    objs = [
        *c.ingress_gateway(),
        c.namespace(NS, {"istio-injection": "enabled"}),
        *c.helloworld_app(service_labels=COOKIE_LABELS),
        *c.helloworld_app(cart_pods, service_labels=COOKIE_LABELS, name="cart"),
        c.istio_gateway(),
        c.virtual_service(c.HELLOWORLD, [c.HttpRoute([c.Destination(c.HELLOWORLD)], exact="/hello", name="hello"),
                                         c.HttpRoute([c.Destination("cart")], exact="/cart", name="cart")]),
    ]
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


# --- STK0106: Gateway API sessionPersistence, Istio's and another controller's ---------------------------------

SESSION_PERSISTENCE = {"sessionName": "session", "type": "Cookie"}


def gateway_api_session_persistence() -> c.ScenarioSpec:
    """gateway-api-header with helloworld unlabelled and the HTTPRoute rule asking for a cookie session."""
    spec = base.gateway_api_header()
    objs = []
    for o in copy.deepcopy(list(spec.objects)):
        if o["kind"] == "Service" and o["metadata"]["name"] == c.HELLOWORLD:
            o["metadata"]["labels"] = {"app": c.HELLOWORLD, "service": c.HELLOWORLD}
        if o["kind"] == "HTTPRoute":
            o["spec"]["rules"][0]["sessionPersistence"] = dict(SESSION_PERSISTENCE)
        objs.append(o)
    return c.ScenarioSpec(objs, proxy=spec.proxy, istiod_env=FLAG_ON)


def gateway_api_other_controller() -> c.ScenarioSpec:
    """The seed (header label) plus an Envoy Gateway Gateway whose HTTPRoute sets sessionPersistence."""
    objs = [
        *base.gateway_seed(HEADER_LABELS),
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "eg"},
         "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "eg", "namespace": NS},
         "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "helloworld-eg", "namespace": NS},
         "spec": {"parentRefs": [{"name": "eg"}], "rules": [{
             "backendRefs": [{"name": c.HELLOWORLD, "port": c.HELLOWORLD_PORT}],
             "sessionPersistence": dict(SESSION_PERSISTENCE)}]}},
    ]
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


# --- STK0107: a labelled Service behind a waypoint ------------------------------------------------------------

AMBIENT_ON = {**FLAG_ON, "PILOT_ENABLE_AMBIENT": "true"}
HELLOWORLD_VIP = "10.96.0.50"


def _behind_waypoint(service_labels: dict[str, str], namespace_labels: dict[str, str]) -> c.ScenarioSpec:
    """The seed in ambient: helloworld's namespace captured (``istio.io/dataplane-mode: ambient``) with
    a service waypoint ``waypoint`` (c.waypoint), istiod with PILOT_ENABLE_AMBIENT=true so that the
    harness builds istiod's ambient index. Services carry the clusterIP the API server gives them."""
    objs = []
    for o in base.gateway_seed({**HEADER_LABELS, **service_labels}):
        if o["kind"] == "Namespace" and o["metadata"]["name"] == NS:
            o = copy.deepcopy(o)
            o["metadata"]["labels"] = {"istio.io/dataplane-mode": "ambient", **namespace_labels}
        objs.append(o)
    objs = c.with_cluster_ip(objs, {c.HELLOWORLD: HELLOWORLD_VIP})
    return c.ScenarioSpec([*objs, *c.waypoint(NS)], istiod_env=AMBIENT_ON)


def header_behind_waypoint() -> c.ScenarioSpec:
    """Namespace helloworld uses waypoint ``waypoint``; the Service asks gateways to use it
    (``istio.io/ingress-use-waypoint: "true"``). istiod sends the gateway the waypoint as the
    Service's only endpoint, an HBONE tunnel (pilot/pkg/xds/endpoints/endpoint_builder.go
    BuildClusterLoadAssignment -> findServiceWaypoint)."""
    return _behind_waypoint({"istio.io/ingress-use-waypoint": "true"}, {c.USE_WAYPOINT: c.WAYPOINT})


def header_use_waypoint_mesh_only() -> c.ScenarioSpec:
    """``istio.io/use-waypoint`` on the Service, no ingress-use-waypoint: istiod keeps the pods in the
    gateway's EDS (findServiceWaypoint: not IngressUseWaypoint); only mesh traffic goes through the
    waypoint."""
    return _behind_waypoint({c.USE_WAYPOINT: c.WAYPOINT}, {})


# --- STK0404: a ServiceEntry has no pods that drain ----------------------------------------------------------


def service_entry_dns_header() -> c.ScenarioSpec:
    """An external API as users declare one: a header-labelled ServiceEntry, MESH_EXTERNAL, resolution
    DNS, no endpoints (Envoy resolves the host: a STRICT_DNS cluster, no EDS)."""
    entry = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "payments", "namespace": NS, "labels": dict(HEADER_LABELS)},
        "spec": {
            "hosts": ["payments.example.com"],
            "location": "MESH_EXTERNAL",
            "resolution": "DNS",
            "ports": [{"number": 8443, "name": "http", "protocol": "HTTP"}],
        },
    }
    objs: list[JSON] = [
        *c.ingress_gateway(), c.namespace(NS, {"istio-injection": "enabled"}), entry, c.istio_gateway(),
        c.virtual_service("payments", [c.HttpRoute([c.Destination("payments.example.com", port=8443)], exact=None,
                                                    prefix="/pay")]),
    ]  # fmt: skip
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def weighted_mixed_routes() -> c.ScenarioSpec:
    """Route /hello to header-labelled helloworld; route /split 90/10 to helloworld and unlabelled
    ``other``: istiod resets the split's session config to none (the later unlabelled destination)."""
    other_pods = c.helloworld_pods(2, first_ip=21, versions=("v1",), app="other")
    objs = [
        *c.ingress_gateway(),
        c.namespace(NS, {"istio-injection": "enabled"}),
        *c.helloworld_app(service_labels=HEADER_LABELS),
        *c.helloworld_app(other_pods, name="other"),
        c.istio_gateway(),
        c.virtual_service(c.HELLOWORLD, [
            c.HttpRoute([c.Destination(c.HELLOWORLD)], exact="/hello", name="hello"),
            c.HttpRoute([c.Destination(c.HELLOWORLD, weight=90), c.Destination("other", weight=10)], exact="/split",
                        name="split"),
        ]),
    ]
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


ROUTE0 = f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"

CHECK_SCENARIOS: dict[str, Entry] = {
    "flag-off-unlabelled": Entry(
        "the seed with no session label and istiod's flag unset: nothing is sticky, nothing is wrong",
        (), flag_off_unlabelled,
    ),
    "sidecar-flag-off-unlabelled": Entry(
        "a client sidecar (sleep) calling helloworld, flag unset, no label: nothing is sticky",
        (), sidecar_flag_off_unlabelled,
    ),
    "sidecar-header": Entry(
        "a client sidecar (sleep) calling header-labelled helloworld, flag on: outbound sticky, inbound never checked",
        (("STK0404", f"{SIDECAR}/cluster:{_cluster(HW)}"), ("STK0601", SIDECAR)), sidecar_header,
    ),
    "istio-1.9-flag-off-header": Entry(
        "flag-off-header on a proxy claiming Istio 1.9.9: the header label does not exist there",
        (("STK0101", ISTIOD), ("STK0201", GW), ("STK0301", ROUTE0)),
        derived_from="flag-off-header", edit=as_istio_1_9,
    ),
    "envoyfilter-sidecar-inbound": Entry(
        "helloworld's own sidecar with an EnvoyFilter putting the session filter on SIDECAR_INBOUND",
        (("STK0205", HELLO_SIDECAR), ("STK0601", HELLO_SIDECAR)), envoyfilter_sidecar_inbound,
    ),
    "manifests-lack-service": Entry(
        "seed-header checked with manifests that lack the helloworld Service: not checked, not unlabelled",
        (("STK0601", GW),), base.seed_header, given=without_helloworld_service,
    ),
    "weighted-two-header-names": Entry(
        "a 50/50 route to helloworld-v1 (header x-session-a) and helloworld-v2 (header x-session-b)",
        (
            ("STK0302", ROUTE0),
            ("STK0306", ROUTE0),
            ("STK0404", f"{GW}/cluster:{_cluster('helloworld-v1.helloworld.svc.cluster.local')}"),
            ("STK0404", f"{GW}/cluster:{_cluster('helloworld-v2.helloworld.svc.cluster.local')}"),
            ("STK0601", GW),
        ),
        weighted_two_header_names,
    ),
    "shared-cookie-name": Entry(
        "helloworld and cart both labelled istio.io/persistent-session: sticky, one gateway on hosts *",
        (("STK0311", f"{GW}/route_config:http.8080"), ("STK0601", GW)), shared_cookie_name,
    ),
    "gateway-api-session-persistence": Entry(
        "Gateway API (class istio) HTTPRoute with sessionPersistence, helloworld unlabelled: istiod emits nothing",
        (("STK0106", "object:HTTPRoute/helloworld/helloworld"),), gateway_api_session_persistence,
    ),
    "gateway-api-other-controller": Entry(
        "the seed plus an Envoy Gateway (class eg) HTTPRoute with sessionPersistence: not Istio's business",
        (DROPPED, ("STK0601", GW)), gateway_api_other_controller,
    ),
    "weighted-mixed-no-services": Entry(
        "routes /hello (header-labelled helloworld) and /split (90/10 helloworld, unlabelled other), checked "
        "without --services: the two routes to helloworld disagree",
        (("STK0312", f"{GW}/cluster:{_cluster(HW)}"), DROPPED, ("STK0601", GW)),
        weighted_mixed_routes, without_services=True,
    ),
    "weighted-mixed-routes": Entry(
        "the same, with --services: the split route lost its session config (STK0310)",
        (("STK0310", f"{GW}/route_config:http.8080/virtual_host:*:80/route:split"), DROPPED, ("STK0601", GW)),
        weighted_mixed_routes,
    ),
    "header-behind-waypoint": Entry(
        "ambient on: the seed, helloworld's namespace behind a waypoint and istio.io/ingress-use-waypoint on the "
        "Service: the gateway's endpoint is the waypoint",
        (("STK0107", "service:helloworld/helloworld"), DROPPED, ("STK0601", GW)), header_behind_waypoint,
    ),
    "header-behind-waypoint-no-services": Entry(
        "the same, checked without --services: the dump alone shows the gateway pinning the waypoint",
        (("STK0107", f"{GW}/cluster:{_cluster(HW)}"), DROPPED, ("STK0601", GW)), header_behind_waypoint,
        without_services=True,
    ),
    "serviceentry-dns-header": Entry(
        "a header-labelled ServiceEntry, MESH_EXTERNAL with DNS resolution: no pods, nothing drains (no STK0404)",
        (("STK0601", GW),), service_entry_dns_header,
    ),
    "header-use-waypoint-mesh-only": Entry(
        "ambient on: istio.io/use-waypoint on the header-labelled Service, no ingress-use-waypoint: the gateway "
        "keeps the pods, mesh traffic goes through the waypoint",
        (("STK0107", "service:helloworld/helloworld"), DROPPED, ("STK0601", GW)), header_use_waypoint_mesh_only,
    ),
}
