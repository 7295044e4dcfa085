#!/usr/bin/env python3
"""Write the project's istiod scenarios (fixtures/istiod/<name>/: cluster.yaml, proxy.yaml, istiod.yaml).

    python scripts/istiod_scenarios.py            # (re)write every scenario directory and docs/istiod-scenarios.md
    python scripts/istiod_scenarios.py --list     # names and what each stands for

Each scenario is the input of scripts/record_istiod.py: the objects a cluster would hold, the proxy,
istiod's settings. What istiod generates from them is recorded by running istiod's code, never
written here. Scenarios written by hand (as users write theirs) sit beside these and are left alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from fixture_cases import expected_exit  # noqa: E402

from stickyctl.lab import cluster as c  # noqa: E402

JSON = dict[str, Any]

TYPE = "type.googleapis.com/"
STATEFUL_SESSION = TYPE + "envoy.extensions.filters.http.stateful_session.v3.StatefulSession"
SCENARIO_ROOT = REPO / "fixtures" / "istiod"
HEADER = "# Written by scripts/istiod_scenarios.py; edit the scenario there.\n"
FLAG_ON = {"PILOT_ENABLE_PERSISTENT_SESSION_FILTER": "true"}
HEADER_LABELS = {c.HEADER_LABEL: "x-session-header"}
COOKIE_LABELS = {c.COOKIE_LABEL: "sticky"}


def gateway_seed(service_labels: dict[str, str], pods: list[c.Workload] | None = None) -> list[c.JSON]:
    """The seed: helloworld x6 behind an Istio Gateway + VirtualService on hosts ``*``."""
    return [
        *c.ingress_gateway(),
        c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}),
        *c.helloworld_app(pods, service_labels=service_labels),
        c.istio_gateway(),
        c.virtual_service(c.HELLOWORLD, [c.HttpRoute([c.Destination(c.HELLOWORLD)])]),
    ]


def seed_header() -> c.ScenarioSpec:
    return c.ScenarioSpec(gateway_seed(HEADER_LABELS), istiod_env=FLAG_ON)


def seed_cookie() -> c.ScenarioSpec:
    return c.ScenarioSpec(gateway_seed(COOKIE_LABELS), istiod_env=FLAG_ON)


def flag_off_header() -> c.ScenarioSpec:
    return c.ScenarioSpec(gateway_seed(HEADER_LABELS), istiod_env={})


def terminating_header() -> c.ScenarioSpec:
    pods = c.with_state(c.helloworld_pods(), 0, "terminating")
    return c.ScenarioSpec(gateway_seed(HEADER_LABELS, pods), istiod_env=FLAG_ON)


def terminating_cookie() -> c.ScenarioSpec:
    pods = c.with_state(c.helloworld_pods(), 0, "terminating")
    return c.ScenarioSpec(gateway_seed(COOKIE_LABELS, pods), istiod_env=FLAG_ON)


def subsets_cookie() -> c.ScenarioSpec:
    objs = [
        *c.ingress_gateway(),
        c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}),
        *c.helloworld_app(service_labels=COOKIE_LABELS),
        c.destination_rule(c.HELLOWORLD, ["v1", "v2"]),
        c.istio_gateway(),
        c.virtual_service(c.HELLOWORLD, [c.HttpRoute([c.Destination(c.HELLOWORLD, subset="v1")])]),
    ]
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def gateway_api_header() -> c.ScenarioSpec:
    gw_name, gw_ns = "helloworld-gateway", c.HELLOWORLD
    gw_name_label = {"gateway.networking.k8s.io/gateway-name": gw_name}
    pod_labels = {**gw_name_label, "sidecar.istio.io/inject": "false"}
    gw_pod = c.Workload(f"{gw_name}-istio-7c9d8b6f4-q2w3e", gw_ns, "10.244.0.9", pod_labels, port=80)
    objs: list[c.JSON] = [
        c.namespace(gw_ns, {"istio-injection": "enabled"}),
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "istio"},
            "spec": {"controllerName": "istio.io/gateway-controller"},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": gw_name, "namespace": gw_ns},
            "spec": {
                "gatewayClassName": "istio",
                "listeners": [
                    {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}
                ],
            },
        },
        # Istio's deployment controller makes <name>-istio for the Gateway (ports as listed there).
        c.service(f"{gw_name}-istio", gw_ns, port=80, labels=gw_name_label, selector=gw_name_label),
        c.pod(gw_pod, containers=[{"name": "istio-proxy", "image": c.PROXY_IMAGE}]),
        *c.helloworld_app(service_labels=HEADER_LABELS),
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": c.HELLOWORLD, "namespace": gw_ns},
            "spec": {
                "parentRefs": [{"name": gw_name}],
                "rules": [
                    {
                        "matches": [{"path": {"type": "Exact", "value": "/hello"}}],
                        "backendRefs": [{"name": c.HELLOWORLD, "port": c.HELLOWORLD_PORT}],
                    }
                ],
            },
        },
    ]
    proxy = c.router_proxy(gw_ns, gw_pod.name, gw_pod.ip, labels=pod_labels)
    return c.ScenarioSpec(objs, proxy=proxy, istiod_env=FLAG_ON)


# --- more of the matrix (issue 13) -----------------------------------------------------------------


def _seed(labels: dict[str, str], env: dict[str, str] | None = None, **kw: Any) -> c.ScenarioSpec:
    return c.ScenarioSpec(gateway_seed(labels, **kw), istiod_env=FLAG_ON if env is None else env)


def _versions(v1_labels: dict[str, str] | None, v2_labels: dict[str, str] | None,
              weights: tuple[int, int] = (90, 10)) -> c.ScenarioSpec:  # fmt: skip
    """Istio's helloworld-versions sample: Services helloworld-v1/-v2 (selector app+version), a
    VirtualService splitting ``/hello`` between them."""
    pods = c.helloworld_pods()
    objs: list[c.JSON] = [*c.ingress_gateway(), c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"})]
    objs += [c.pod(p) for p in pods]
    for version, labels in (("v1", v1_labels), ("v2", v2_labels)):
        name = f"{c.HELLOWORLD}-{version}"
        objs.append(c.service(name, labels=labels, selector={"app": c.HELLOWORLD, "version": version}))
        objs.append(c.endpoint_slice(name, [p for p in pods if p.labels["version"] == version]))
    route = c.HttpRoute([c.Destination("helloworld-v1", weight=weights[0]),
                         c.Destination("helloworld-v2", weight=weights[1])])  # fmt: skip
    objs += [c.istio_gateway(), c.virtual_service(c.HELLOWORLD, [route])]
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def not_ready(labels: dict[str, str]) -> Callable[[], c.ScenarioSpec]:
    def build() -> c.ScenarioSpec:
        return _seed(labels, pods=c.with_state(c.helloworld_pods(), 0, "not-ready"))

    return build


def subsets_header() -> c.ScenarioSpec:
    spec = subsets_cookie()
    objs = [dict(o) for o in spec.objects]
    for o in objs:
        if o["kind"] == "Service" and o["metadata"]["name"] == c.HELLOWORLD:
            o["metadata"] = {**o["metadata"], "labels": {"app": c.HELLOWORLD, "service": c.HELLOWORLD, **HEADER_LABELS}}
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def _app(name: str, namespace_name: str, labels: dict[str, str], first_ip: int, *, port: int = 8000,
         count: int = 2) -> list[c.JSON]:  # fmt: skip
    pods = c.helloworld_pods(count, first_ip=first_ip, versions=("v1",), app=name, namespace=namespace_name, port=port)
    objs: list[c.JSON] = [c.service(name, namespace_name, port=port, labels={"app": name, **labels})]
    objs += [c.pod(p) for p in pods]
    objs.append(c.endpoint_slice(name, pods, namespace=namespace_name, port=port))
    return objs


def multi_host() -> c.ScenarioSpec:
    """One gateway, two hosts in two namespaces: shop.example.com/cart (cookie) and
    hello.example.com/hello (header), each a Gateway + VirtualService in its own namespace."""
    objs: list[c.JSON] = [
        *c.ingress_gateway(),
        c.namespace("shop", {"istio-injection": "enabled"}),
        c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}),
        *_app("cart", "shop", {c.COOKIE_LABEL: "cart-session"}, 31),
        *c.helloworld_app(service_labels=HEADER_LABELS),
        c.istio_gateway("shop-gateway", "shop", hosts=["shop.example.com"]),
        c.virtual_service("cart", [c.HttpRoute([c.Destination("cart", port=8000)], exact=None, prefix="/cart")],
                          namespace_name="shop", hosts=["shop.example.com"], gateways=["shop-gateway"]),
        c.istio_gateway("hello-gateway", c.HELLOWORLD, hosts=["hello.example.com"]),
        c.virtual_service(c.HELLOWORLD, [c.HttpRoute([c.Destination(c.HELLOWORLD)])],
                          hosts=["hello.example.com"], gateways=["hello-gateway"]),
    ]  # fmt: skip
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def service_entry_header() -> c.ScenarioSpec:
    """A ServiceEntry (an external API) carrying the header label, routed from the gateway: istiod
    reads labels from ServiceEntries too (serviceentry/conversion.go)."""
    entry = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "payments", "namespace": c.HELLOWORLD, "labels": dict(HEADER_LABELS)},
        "spec": {
            "hosts": ["payments.example.com"],
            "location": "MESH_EXTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": 8443, "name": "http", "protocol": "HTTP"}],
            "endpoints": [{"address": "127.0.0.41"}, {"address": "127.0.0.42"}],
        },
    }
    objs: list[c.JSON] = [
        *c.ingress_gateway(), c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}), entry,
        c.istio_gateway(),
        c.virtual_service("payments", [c.HttpRoute([c.Destination("payments.example.com", port=8443)], exact=None,
                                                    prefix="/pay")]),
    ]  # fmt: skip
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


SLEEP = c.Workload(
    "sleep-7b9f8c6d5-s1e2p", "sleep", "10.244.2.5", {"app": "sleep", "security.istio.io/tlsMode": "istio"}
)


def sidecar_outbound_cookie() -> c.ScenarioSpec:
    """A client's sidecar (sleep) calling the cookie-labelled helloworld: outbound listener 5000."""
    objs: list[c.JSON] = [
        c.namespace("sleep", {"istio-injection": "enabled"}), c.pod(SLEEP),
        c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}), *c.helloworld_app(service_labels=COOKIE_LABELS),
    ]  # fmt: skip
    proxy = {"type": "sidecar", "namespace": "sleep", "name": SLEEP.name, "ip": SLEEP.ip}
    return c.ScenarioSpec(objs, proxy=proxy, istiod_env=FLAG_ON)


def sidecar_inbound_header() -> c.ScenarioSpec:
    """The sidecar of a helloworld pod itself: its inbound listener never gets the filter
    (listener_builder.go: not for ListenerClassSidecarInbound); its outbound listeners do."""
    pods = c.helloworld_pods()
    objs: list[c.JSON] = [c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}),
                          *c.helloworld_app(pods, service_labels=HEADER_LABELS)]  # fmt: skip
    proxy = {"type": "sidecar", "namespace": c.HELLOWORLD, "name": pods[0].name, "ip": pods[0].ip}
    return c.ScenarioSpec(objs, proxy=proxy, istiod_env=FLAG_ON)


def label_on_deployment() -> c.ScenarioSpec:
    """The header label on the Deployment and its pods, not the Service: istiod reads Service labels only."""
    pods = c.helloworld_pods(extra_labels=HEADER_LABELS)
    objs = gateway_seed({}, pods)
    objs.append(c.deployment("helloworld-v1", c.HELLOWORLD, {"app": c.HELLOWORLD, **HEADER_LABELS},
                             {"app": c.HELLOWORLD, "version": "v1", **HEADER_LABELS}))  # fmt: skip
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def custom_header_label() -> c.ScenarioSpec:
    """istiod configured with its own header label key (PILOT_PERSISTENT_SESSION_HEADER_LABEL)."""
    env = {**FLAG_ON, "PILOT_PERSISTENT_SESSION_HEADER_LABEL": "example.com/sticky-header"}
    return _seed({"example.com/sticky-header": "x-session-header"}, env)


def two_sticky_one_host() -> c.ScenarioSpec:
    """Two sticky Services behind one host: /cart (header x-cart) and /hello (header x-session-header)."""
    objs = [
        *c.ingress_gateway(), c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}),
        *c.helloworld_app(service_labels=HEADER_LABELS),
        *_app("cart", c.HELLOWORLD, {c.HEADER_LABEL: "x-cart"}, 31),
        c.istio_gateway(),
        c.virtual_service(c.HELLOWORLD, [
            c.HttpRoute([c.Destination("cart", port=8000)], exact=None, prefix="/cart", name="cart"),
            c.HttpRoute([c.Destination(c.HELLOWORLD)], name="hello"),
        ]),
    ]  # fmt: skip
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def two_sticky_same_name() -> c.ScenarioSpec:
    """Two sticky Services behind one host sharing one header name: each one's value is taken
    by the other's route too."""
    spec = two_sticky_one_host()
    objs = json.loads(json.dumps(list(spec.objects)))
    for o in objs:
        if o["kind"] == "Service" and o["metadata"]["name"] == "cart":
            o["metadata"]["labels"][c.HEADER_LABEL] = "x-session-header"
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def consistent_hash_header() -> c.ScenarioSpec:
    """The header label plus a DestinationRule consistentHash on a request header: both decide
    the host; the session wins while its host lives (STK0309)."""
    objs = [*gateway_seed(HEADER_LABELS), c.consistent_hash_rule(c.HELLOWORLD, "x-user")]
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def envoyfilter_after_router() -> c.ScenarioSpec:
    """An EnvoyFilter inserting a second session filter after the router: Envoy rejects the
    listener ("terminal filter … must be the last filter"), recorded as Envoy then holds it."""
    ef = {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": "session-last", "namespace": "istio-ingress"},
        "spec": {
            "workloadSelector": {"labels": {"istio": "ingressgateway"}},
            "configPatches": [{
                "applyTo": "HTTP_FILTER",
                "match": {"context": "GATEWAY", "listener": {"filterChain": {"filter": {
                    "name": "envoy.filters.network.http_connection_manager",
                    "subFilter": {"name": "envoy.filters.http.router"}}}}},
                "patch": {"operation": "INSERT_AFTER", "value": {
                    "name": "envoy.filters.http.stateful_session.late",
                    "typed_config": {"@type": STATEFUL_SESSION},
                }},
            }],
        },
    }  # fmt: skip
    return c.ScenarioSpec([*gateway_seed(HEADER_LABELS), ef], istiod_env=FLAG_ON)


BENCH_TEMPLATE = "three-hosts"
"""The scenario benchmarks/gen_dump.py scales up: its per-Service resources are istiod's."""


def three_hosts() -> c.ScenarioSpec:
    """Three Services on three hosts of one gateway (VirtualService per host): header-labelled,
    cookie-labelled and plain, the unit benchmarks/gen_dump.py repeats for its large gateways."""
    objs: list[c.JSON] = [
        *c.ingress_gateway(),
        c.namespace("team-0", {"istio-injection": "enabled"}),
        c.istio_gateway("public", "team-0"),
    ]
    labels = ({c.HEADER_LABEL: "x-session-header"}, {c.COOKIE_LABEL: "sticky"}, {})
    for i, extra in enumerate(labels):
        name = f"svc-{i}"
        objs += _app(name, "team-0", extra, 51 + 3 * i, port=8080, count=3)
        objs.append(c.virtual_service(name, [c.HttpRoute([c.Destination(name, port=8080)], exact=None, prefix="/")],
                                      namespace_name="team-0", hosts=[f"{name}.team-0.example.com"],
                                      gateways=["public"]))  # fmt: skip
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


# --- scripted edits of a recording, for what istiod cannot produce --------------------------------

SESSION_FILTER = "envoy.filters.http.stateful_session"


def _section(dump: JSON, short: str) -> JSON:
    section: JSON = next(s for s in dump["configs"] if s["@type"].endswith("." + short))
    return section


def _routes(dump: JSON) -> list[JSON]:
    return [
        r
        for rc in _section(dump, "RoutesConfigDump").get("dynamic_route_configs", [])
        for vh in rc["route_config"]["virtual_hosts"]
        for r in vh["routes"]
    ]


def _clusters(dump: JSON) -> list[JSON]:
    return [c["cluster"] for c in _section(dump, "ClustersConfigDump").get("dynamic_active_clusters", [])]


def _node(dump: JSON) -> JSON:
    node: JSON = _section(dump, "BootstrapConfigDump")["bootstrap"]["node"]
    return node


def _session_state(route: JSON) -> JSON:
    state: JSON = route["typed_per_filter_config"][SESSION_FILTER]["stateful_session"]["session_state"]
    return state


def as_istio_1_20_hosts_star(dump: JSON) -> JSON:
    """Istio 1.17–1.20 put session config only on virtual hosts made from a Service host, so a
    gateway with hosts `*` got none (1.21, PR 47376, moved it to routes): every route's
    `typed_per_filter_config` session entry removed, node metadata ISTIO_VERSION 1.20.8."""
    for route in _routes(dump):
        route.get("typed_per_filter_config", {}).pop(SESSION_FILTER, None)
        if route.get("typed_per_filter_config") == {}:
            del route["typed_per_filter_config"]
    _node(dump)["metadata"]["ISTIO_VERSION"] = "1.20.8"
    return dump


def as_istio_1_23_header(dump: JSON) -> JSON:
    """Istio before 1.24 (PR 52305) set override_host_status for the cookie label only: the
    header-labelled Service's cluster loses it; node metadata ISTIO_VERSION 1.23.2."""
    for cluster in _clusters(dump):
        cluster.get("common_lb_config", {}).pop("override_host_status", None)
    _node(dump)["metadata"]["ISTIO_VERSION"] = "1.23.2"
    return dump


def envoyfilter_renames_header(dump: JSON) -> JSON:
    """An EnvoyFilter (HTTP_ROUTE merge) that rewrote the route's header session name to
    `x-session`, while the Service's label says `x-session-header`."""
    for route in _routes(dump):
        _session_state(route)["typed_config"]["name"] = "x-session"
    return dump


def envoyfilter_cookie_for_header(dump: JSON) -> JSON:
    """An EnvoyFilter that replaced the route's header session by a cookie session named
    `x-session-header` (the header label's value)."""
    for route in _routes(dump):
        _session_state(route).update({
            "name": "envoy.http.stateful_session.cookie",
            "typed_config": {"@type": TYPE + "envoy.extensions.http.stateful_session.cookie.v3.CookieBasedSessionState",
                             "cookie": {"name": "x-session-header", "path": "/"}},
        })  # fmt: skip
    return dump


def envoyfilter_disables_session(dump: JSON) -> JSON:
    """An EnvoyFilter that set the route's per-route config to `disabled: true`."""
    for route in _routes(dump):
        route["typed_per_filter_config"][SESSION_FILTER] = {
            "@type": TYPE + "envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute",
            "disabled": True,
        }
    return dump


def cookie_path_api(dump: JSON) -> JSON:
    """A cookie session for path `/api` on the `/hello` route (an EnvoyFilter, or a label value
    `sticky:/api` on a ServiceEntry, which istiod reads with strings.Cut)."""
    for route in _routes(dump):
        _session_state(route)["typed_config"]["cookie"]["path"] = "/api"
    return dump


def cookie_ttl_120s(dump: JSON) -> JSON:
    """Istio 1.17–1.21 hard-coded a 120 s cookie TTL (removed in 1.22, PR 49213): cookie `ttl: 120s`,
    node metadata ISTIO_VERSION 1.21.6."""
    for route in _routes(dump):
        _session_state(route)["typed_config"]["cookie"]["ttl"] = "120s"
    _node(dump)["metadata"]["ISTIO_VERSION"] = "1.21.6"
    return dump


def empty_override_host_status(dump: JSON) -> JSON:
    """An EnvoyFilter (CLUSTER merge) that left `override_host_status` set but empty: Envoy then
    honours no session at all (Envoy 1.40 keeps it and shows `{}`)."""
    for cluster in _clusters(dump):
        if "override_host_status" in cluster.get("common_lb_config", {}):
            cluster["common_lb_config"]["override_host_status"] = {}
    return dump


def drop_helloworld_cluster(dump: JSON) -> JSON:
    """The sticky route's cluster is missing from CDS (a push that lost it, or a destination on
    another cluster's name): the helloworld cluster and its endpoints removed; istiod's route
    configurations have `validate_clusters: false`, so Envoy keeps the route."""
    hw = "outbound|5000||helloworld.helloworld.svc.cluster.local"
    cds = _section(dump, "ClustersConfigDump")
    cds["dynamic_active_clusters"] = [c for c in cds["dynamic_active_clusters"] if c["cluster"]["name"] != hw]
    eds = _section(dump, "EndpointsConfigDump")
    eds["dynamic_endpoint_configs"] = [
        e for e in eds.get("dynamic_endpoint_configs", []) if e["endpoint_config"]["cluster_name"] != hw
    ]
    return dump


def filter_by_ecds(dump: JSON) -> JSON:
    """The session filter delivered by ECDS (an EnvoyFilter with an extension config): the HCM
    names it with `config_discovery` and the dump gains an EcdsConfigDump, as Envoy 1.40 shows it
    (fixtures/README.md)."""
    listeners = _section(dump, "ListenersConfigDump")["dynamic_listeners"]
    for entry in listeners:
        for chain in entry["active_state"]["listener"]["filter_chains"]:
            for f in chain["filters"]:
                for i, h in enumerate(f["typed_config"].get("http_filters", [])):
                    if h["name"] == SESSION_FILTER:
                        f["typed_config"]["http_filters"][i] = {"name": SESSION_FILTER, "config_discovery": {
                            "config_source": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
                            "type_urls": [TYPE + "envoy.extensions.filters.http.stateful_session.v3.StatefulSession"],
                        }}  # fmt: skip
    ecds = {
        "@type": "type.googleapis.com/envoy.admin.v3.EcdsConfigDump",
        "ecds_filters": [{
            "version_info": listeners[0]["active_state"]["version_info"],
            "ecds_filter": {"@type": TYPE + "envoy.config.core.v3.TypedExtensionConfig", "name": SESSION_FILTER,
                            "typed_config": {"@type": STATEFUL_SESSION}},
            "last_updated": listeners[0]["active_state"]["last_updated"],
        }],
    }  # fmt: skip
    dump["configs"].append(ecds)
    return dump


GW = "proxy:istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress"
GW_API = "proxy:helloworld-gateway-istio-7c9d8b6f4-q2w3e.helloworld"
ISTIOD = "object:Deployment/istio-system/istiod"
HW = "helloworld.helloworld.svc.cluster.local"

Findings = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Entry:
    """One fixture: a scenario istiod's code is run on (or a scripted edit of another's recording)
    and the exact findings ``stickyctl check`` must give on what was recorded."""

    what: str
    findings: Findings
    build: Callable[[], c.ScenarioSpec] | None = None
    derived_from: str | None = None
    edit: Callable[[JSON], JSON] | None = None
    """For cases istiod cannot produce: a documented edit of ``derived_from``'s recorded dump."""
    envoy_rejects: bool = False
    """Envoy rejects some of what istiod generated: recorded as Envoy then holds it (--accept-rejected)."""
    without_services: bool = False
    """Check without --services (the dump's own session config is all there is to go by)."""
    given: Callable[[list[JSON]], list[JSON]] | None = None
    """What the user passes to --services when it is not the whole cluster (written as
    services.yaml): a documented selection of cluster.yaml's objects."""


SCENARIOS: dict[str, Entry] = {
    "seed-header": Entry(
        "helloworld x6, Istio Gateway + VirtualService on hosts *, header label, flag on",
        (("STK0404", f"{GW}/cluster:outbound|5000||{HW}"), ("STK0601", GW)),
        seed_header,
    ),
    "seed-cookie": Entry("the seed with the cookie label", (("STK0601", GW),), seed_cookie),
    "flag-off-header": Entry(
        "the seed (header label) with istiod's flag unset",
        (
            ("STK0101", ISTIOD),
            ("STK0201", GW),
            ("STK0301", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
        ),
        flag_off_header,
    ),
    "terminating-header": Entry(
        "header label, one pod terminating (serving, not ready): istiod drops it from EDS",
        (("STK0404", f"{GW}/cluster:outbound|5000||{HW}"), ("STK0601", GW)),
        terminating_header,
    ),
    "terminating-cookie": Entry(
        "cookie label, one pod terminating (serving, not ready)", (("STK0601", GW),), terminating_cookie
    ),
    "subsets-cookie": Entry(
        "cookie label, DestinationRule subsets v1/v2, route to subset v1",
        (("STK0401", f"{GW}/cluster:outbound|5000|v1|{HW}"), ("STK0601", GW)),
        subsets_cookie,
    ),
    "gateway-api-header": Entry(
        "Gateway API Gateway + HTTPRoute, header label",
        (("STK0404", f"{GW_API}/cluster:outbound|5000||{HW}"), ("STK0601", GW_API)),
        gateway_api_header,
    ),
    "flag-off-cookie": Entry(
        "the seed with the cookie label and istiod's flag unset",
        (
            ("STK0101", "object:Deployment/istio-system/istiod"),
            ("STK0201", f"{GW}"),
            ("STK0301", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
        ),
        lambda: _seed(COOKIE_LABELS, {}),
    ),
    "flag-on-unlabelled": Entry("the seed without any session label, flag on", (), lambda: _seed({})),
    "notready-header": Entry(
        "header label, one pod not ready (not serving, not terminating)",
        (("STK0404", f"{GW}/cluster:outbound|5000||{HW}"), ("STK0601", f"{GW}")),
        not_ready(HEADER_LABELS),
    ),
    "notready-cookie": Entry(
        "cookie label, one pod not ready (not serving, not terminating)",
        (("STK0601", f"{GW}"),),
        not_ready(COOKIE_LABELS),
    ),
    "subsets-header": Entry(
        "header label, DestinationRule subsets v1/v2, route to subset v1",
        (("STK0404", f"{GW}/cluster:outbound|5000|v1|{HW}"), ("STK0601", f"{GW}")),
        subsets_header,
    ),
    "weighted-labelled-unlabelled": Entry(
        "/hello split 90/10: helloworld-v1 header-labelled, helloworld-v2 unlabelled",
        (
            ("STK0310", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||helloworld-v1.helloworld.svc.cluster.local"),
        ),
        lambda: _versions(HEADER_LABELS, None),
    ),
    "weighted-two-labelled": Entry(
        "/hello split 90/10 over two Services with the same header label value",
        (
            ("STK0306", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||helloworld-v1.helloworld.svc.cluster.local"),
            ("STK0404", f"{GW}/cluster:outbound|5000||helloworld-v2.helloworld.svc.cluster.local"),
            ("STK0601", f"{GW}"),
        ),
        lambda: _versions(HEADER_LABELS, HEADER_LABELS),
    ),
    "weighted-zero": Entry(
        "/hello 100/0: the labelled v1 and an unlabelled v2 with weight 0 (skipped by istiod)",
        (
            ("STK0404", f"{GW}/cluster:outbound|5000||helloworld-v1.helloworld.svc.cluster.local"),
            ("STK0601", f"{GW}"),
        ),
        lambda: _versions(HEADER_LABELS, None, (100, 0)),
    ),
    "multi-host": Entry(
        "one gateway, shop.example.com/cart (cookie, ns shop) and hello.example.com/hello (header)",
        (("STK0404", f"{GW}/cluster:outbound|5000||{HW}"), ("STK0601", f"{GW}")),
        multi_host,
    ),
    "serviceentry-header": Entry(
        "a ServiceEntry (MESH_EXTERNAL, STATIC, two endpoints) with the header label routed from the gateway: "
        "its endpoints never drain (no STK0404)",
        (("STK0601", f"{GW}"),),
        service_entry_header,
    ),
    "sidecar-outbound-cookie": Entry(
        "a client sidecar (sleep) calling the cookie-labelled helloworld",
        (("STK0601", "proxy:sleep-7b9f8c6d5-s1e2p.sleep"),),
        sidecar_outbound_cookie,
    ),
    "sidecar-inbound-header": Entry(
        "the sidecar of a header-labelled helloworld pod (inbound and outbound)",
        (
            ("STK0404", f"proxy:helloworld-v1-5d4f8b7c9-00000.helloworld/cluster:outbound|5000||{HW}"),
            ("STK0601", "proxy:helloworld-v1-5d4f8b7c9-00000.helloworld"),
        ),
        sidecar_inbound_header,
    ),
    "label-on-deployment": Entry(
        "the header label on the Deployment and pods, not the Service",
        (
            ("STK0104", "object:Deployment/helloworld/helloworld-v1"),
            ("STK0104", "object:Pod/helloworld/helloworld-v1-5d4f8b7c9-00000"),
            ("STK0104", "object:Pod/helloworld/helloworld-v1-5d4f8b7c9-00001"),
            ("STK0104", "object:Pod/helloworld/helloworld-v1-5d4f8b7c9-00002"),
            ("STK0104", "object:Pod/helloworld/helloworld-v2-5d4f8b7c9-00003"),
            ("STK0104", "object:Pod/helloworld/helloworld-v2-5d4f8b7c9-00004"),
            ("STK0104", "object:Pod/helloworld/helloworld-v2-5d4f8b7c9-00005"),
        ),
        label_on_deployment,
    ),
    "both-labels": Entry(
        "the Service carries both labels (cookie wins)",
        (("STK0103", "service:helloworld/helloworld"), ("STK0601", f"{GW}")),
        lambda: _seed({**COOKIE_LABELS, **HEADER_LABELS}),
    ),
    "custom-header-label": Entry(
        "PILOT_PERSISTENT_SESSION_HEADER_LABEL=example.com/sticky-header",
        (("STK0404", f"{GW}/cluster:outbound|5000||{HW}"), ("STK0601", f"{GW}")),
        custom_header_label,
    ),
    "two-sticky-one-host": Entry(
        "two sticky Services on one host: /cart (x-cart) and /hello (x-session-header)",
        (
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
            ("STK0404", f"{GW}/cluster:outbound|8000||cart.helloworld.svc.cluster.local"),
            ("STK0601", f"{GW}"),
        ),
        two_sticky_one_host,
    ),
    "two-sticky-same-name": Entry(
        "two sticky Services on one host sharing the header name x-session-header",
        (
            ("STK0311", f"{GW}/route_config:http.8080"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
            ("STK0404", f"{GW}/cluster:outbound|8000||cart.helloworld.svc.cluster.local"),
            ("STK0601", f"{GW}"),
        ),
        two_sticky_same_name,
    ),
    "consistent-hash-header": Entry(
        "header label plus a DestinationRule consistentHash on x-user",
        (
            ("STK0309", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
            ("STK0601", f"{GW}"),
        ),
        consistent_hash_header,
    ),
    "envoyfilter-after-router": Entry(
        "an EnvoyFilter puts a session filter after the router: Envoy rejects the listener",
        (("STK0105", "service:helloworld/helloworld"), ("STK0204", f"{GW}/listener:0.0.0.0_8080")),
        envoyfilter_after_router,
        envoy_rejects=True,
    ),
    "istio-1.20-hosts-star": Entry(
        "Istio 1.20's shape of seed-cookie: no session config on a hosts-* gateway",
        (("STK0301", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),),
        derived_from="seed-cookie",
        edit=as_istio_1_20_hosts_star,
    ),
    "istio-1.23-header": Entry(
        "Istio 1.23's shape of seed-header: no override_host_status for the header label",
        (("STK0404", f"{GW}/cluster:outbound|5000||{HW}"), ("STK0601", f"{GW}")),
        derived_from="seed-header",
        edit=as_istio_1_23_header,
    ),
    "envoyfilter-name-mismatch": Entry(
        "seed-header with the route's header name rewritten to x-session",
        (
            ("STK0302", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
            ("STK0601", f"{GW}"),
        ),
        derived_from="seed-header",
        edit=envoyfilter_renames_header,
    ),
    "envoyfilter-mode-mismatch": Entry(
        "seed-header with a cookie session on the route",
        (
            ("STK0303", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
            ("STK0601", f"{GW}"),
        ),
        derived_from="seed-header",
        edit=envoyfilter_cookie_for_header,
    ),
    "envoyfilter-disabled": Entry(
        "seed-header with the per-route config disabled",
        (
            ("STK0304", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
        ),
        derived_from="seed-header",
        edit=envoyfilter_disables_session,
    ),
    "cookie-path-api": Entry(
        "seed-cookie with cookie path /api on the /hello route",
        (("STK0307", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"), ("STK0601", f"{GW}")),
        derived_from="seed-cookie",
        edit=cookie_path_api,
    ),
    "istio-1.21-cookie-ttl": Entry(
        "Istio 1.21's shape of seed-cookie: cookie TTL 120s",
        (("STK0308", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"), ("STK0601", f"{GW}")),
        derived_from="seed-cookie",
        edit=cookie_ttl_120s,
    ),
    "empty-override": Entry(
        "seed-header with override_host_status set but empty",
        (
            ("STK0402", f"{GW}/cluster:outbound|5000||{HW}"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
            ("STK0601", f"{GW}"),
        ),
        derived_from="seed-header",
        edit=empty_override_host_status,
    ),
    "cluster-missing": Entry(
        "seed-header without the helloworld cluster in CDS",
        (("STK0403", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"), ("STK0601", f"{GW}")),
        derived_from="seed-header",
        edit=drop_helloworld_cluster,
    ),
    "filter-by-ecds": Entry(
        "seed-header with the session filter delivered by ECDS",
        (
            ("STK0203", f"{GW}/listener:0.0.0.0_8080/filter_chain:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
            ("STK0601", f"{GW}"),
        ),
        derived_from="seed-header",
        edit=filter_by_ecds,
    ),
    "three-hosts": Entry(
        "three hosts on one gateway: a header-, a cookie-labelled and a plain Service (the benchmarks' unit)",
        (("STK0404", f"{GW}/cluster:outbound|8080||svc-0.team-0.svc.cluster.local"), ("STK0601", f"{GW}")),
        three_hosts,
    ),
}
# Scenarios of the checks (issue 14) live in their own file; it imports this module's builders.
sys.modules.setdefault("istiod_scenarios", sys.modules[__name__])
from istiod_scenarios_checks import CHECK_SCENARIOS  # noqa: E402

SCENARIOS.update(CHECK_SCENARIOS)

CHECK_ARGS = ("-f", "recorded/config_dump.json", "--services", "cluster.yaml", "--istiod", "recorded/istiod.yaml")


def write_inputs(name: str, entry: Entry, root: Path = SCENARIO_ROOT) -> None:
    """The scenario files and expected.yaml (no recording)."""
    directory = root / name
    if entry.build is not None:
        spec = entry.build()
        spec.write(directory, header=HEADER)
        if entry.given is not None:
            given = entry.given(list(spec.objects))
            (directory / "services.yaml").write_text(HEADER + yaml.safe_dump_all(given, sort_keys=False))
    else:
        directory.mkdir(parents=True, exist_ok=True)
    write_expected(directory, entry)


def write_expected(directory: Path, entry: Entry) -> None:
    doc: JSON = {"what": entry.what}
    if entry.derived_from:
        assert entry.edit is not None
        doc["derived_from"] = entry.derived_from
        doc["edit"] = (entry.edit.__doc__ or "").strip()
    if entry.given is not None:
        doc["given"] = (entry.given.__doc__ or "").strip()
    args = list(CHECK_ARGS) if entry.build else _derived_args(entry)
    if entry.given is not None:
        args[args.index("cluster.yaml")] = "services.yaml"
    if entry.without_services:
        i = args.index("--services")
        del args[i : i + 2]
    doc["args"] = args
    doc["exit_code"] = expected_exit(entry.findings)
    doc["findings"] = [{"code": code, "resource_id": rid} for code, rid in entry.findings]
    (directory / "expected.yaml").write_text(HEADER + yaml.safe_dump(doc, sort_keys=False, width=200))


def _derived_args(entry: Entry) -> list[str]:
    base = f"../{entry.derived_from}"
    return ["-f", "recorded/config_dump.json", "--services", f"{base}/cluster.yaml",
            "--istiod", f"{base}/recorded/istiod.yaml"]  # fmt: skip


class RecordingFailed(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")


def record_entry(name: str, entry: Entry, root: Path = SCENARIO_ROOT, *, out: Path | None = None) -> None:
    """Record ``name`` into ``out`` (default ``<root>/<name>/recorded``): run istiod's code, or
    apply the edit to the base scenario's recording (which must be recorded first)."""
    target = out or root / name / "recorded"
    if entry.build is not None:
        # A process of its own per recording: record_istiod.py moves itself into a network
        # namespace of its own, where the gateway's fixed ports collide with nothing.
        flags = ["--accept-rejected"] if entry.envoy_rejects else []
        proc = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "record_istiod.py"), *flags, str(root / name), str(target)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RecordingFailed(name, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
        return
    assert entry.derived_from is not None and entry.edit is not None
    base = (out.parent.parent / entry.derived_from / "recorded") if out else root / entry.derived_from / "recorded"
    dump = json.loads((base / "config_dump.json").read_text())
    target.mkdir(parents=True, exist_ok=True)
    (target / "config_dump.json").write_text(json.dumps(entry.edit(dump), indent=2) + "\n")


MATRIX = REPO / "docs" / "istiod-scenarios.md"
SAMPLE = ("seed-header", REPO / "stickyctl" / "samples" / "helloworld")
"""`stickyctl check --sample helloworld` (package data): the seed as istiod generated it."""


def write_sample() -> None:
    name, target = SAMPLE
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SCENARIO_ROOT / name / "recorded" / "config_dump.json", target / "dump.json")
    shutil.copyfile(SCENARIO_ROOT / name / "cluster.yaml", target / "services.yaml")


def matrix() -> str:
    """docs/istiod-scenarios.md: every scenario, what it stands for, its verdict."""
    lines = [
        "# The istiod scenario fixtures",
        "",
        "Generated by `scripts/istiod_scenarios.py` (do not edit). Each row is a directory of",
        "`fixtures/istiod/`: a scenario recorded from istiod's own code ([fidelity](fidelity.md)), or a",
        "scripted edit of one for what istiod cannot produce, with the exact findings of",
        "`stickyctl check` on it.",
        "",
        "| scenario | what it stands for | made by | findings | exit |",
        "|---|---|---|---|---|",
    ]
    for name, entry in SCENARIOS.items():
        if entry.build is None:
            made = f"edit of `{entry.derived_from}`: {' '.join((entry.edit.__doc__ or '').split())}"
        else:
            made = "istiod" + (" (Envoy rejects part of it)" if entry.envoy_rejects else "")
        codes = ", ".join(sorted({code for code, _ in entry.findings})) or "none"
        what = entry.what.replace("*", "\\*").replace("|", "\\|")
        made = made.replace("|", "\\|")
        lines.append(f"| `{name}` | {what} | {made} | {codes} | {expected_exit(entry.findings)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="only this scenario (repeatable)")
    parser.add_argument("--record", action="store_true",
                        help="also record each scenario with istiod's code (needs Go and envoy)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.list:
        for name, entry in SCENARIOS.items():
            print(f"{name:32} {entry.what}")
        return 0
    unknown = sorted(set(args.only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r} (see --list)")
    chosen = [n for n in SCENARIOS if not args.only or n in args.only]
    for name in chosen:
        write_inputs(name, SCENARIOS[name])
    MATRIX.write_text(matrix())
    if args.record:
        import record_istiod

        try:
            record_istiod.build_harness()
            # Scenarios istiod runs on first, then the edits of their recordings.
            for name in sorted(chosen, key=lambda n: SCENARIOS[n].build is None):
                record_entry(name, SCENARIOS[name])
                print(f"recorded {name}", file=sys.stderr)
        except (record_istiod.RecordError, RecordingFailed) as exc:
            print(f"istiod_scenarios: {exc}", file=sys.stderr)
            return 1
        if SAMPLE[0] in chosen:
            write_sample()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
