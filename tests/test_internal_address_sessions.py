"""Sessions pinned to an Envoy internal address, on a real Envoy.

An Istio gateway's hosts are internal addresses when istiod sends a Service's endpoints as HBONE
tunnels: with ambient on and ``istio.io/ingress-use-waypoint``, the Service's endpoints are its
waypoint's pods, each ``envoy_internal_address {server_listener_name: connect_originate,
endpoint_id: <waypoint IP>:15008}`` (fixtures/istiod/header-behind-waypoint, STK0107). The session
value Envoy then issues is base64 of the host's ``asString()``, ``envoy://<listener>/<endpoint id>``
(``EnvoyInternalInstance``, source/common/network/address_impl.cc), and a request carrying it is
pinned to that host.

Here: a gateway listener with the header session state in front of a STATIC cluster of two such
hosts; the internal listener ``connect_originate`` answers itself (no HBONE server is needed to see
which host Envoy picked: the route adds ``%UPSTREAM_HOST%`` to each response). Run on every Envoy
found (tests/other_envoys.py).
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from stickyctl.envoy.session_values import SessionValue, decode_header_value
from stickyctl.lab.envoy import LabEnvoy, free_ports
from stickyctl.lab.xds import XdsSnapshot
from tests.conftest import invoke
from tests.other_envoys import EnvoyBinary, version_params

LISTENER = "connect_originate"
ENDPOINTS = ("127.0.0.31:15008", "127.0.0.32:15008")
HEADER = "x-session-header"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def _hcm(prefix: str, filters: list[dict[str, Any]], route: dict[str, Any]) -> dict[str, Any]:
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": HCM, "stat_prefix": prefix, "http_filters": [*filters, ROUTER],
        "route_config": {"name": prefix, "virtual_hosts": [{"name": prefix, "domains": ["*"], "routes": [route]}]}}}


def _config(admin: int, gateway: int) -> dict[str, Any]:
    session = {"name": "envoy.filters.http.stateful_session", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession",
        "session_state": {"name": "envoy.http.stateful_session.header", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.header.v3.HeaderBasedSessionState",
            "name": HEADER}}}}
    to_tunnels = {"match": {"prefix": "/"}, "route": {"cluster": "tunnels"},
                  "response_headers_to_add": [{"header": {"key": "x-upstream", "value": "%UPSTREAM_HOST%"}}]}
    answer = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
    hosts = [{"endpoint": {"address": {"envoy_internal_address": {"server_listener_name": LISTENER,
                                                                  "endpoint_id": e}}}} for e in ENDPOINTS]
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "bootstrap_extensions": [{"name": "envoy.bootstrap.internal_listener", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}],
        "static_resources": {
            "listeners": [
                {"name": "gateway", "address": {"socket_address": {"address": "127.0.0.1", "port_value": gateway}},
                 "filter_chains": [{"filters": [_hcm("gateway", [session], to_tunnels)]}]},
                {"name": LISTENER, "internal_listener": {},
                 "filter_chains": [{"filters": [_hcm("inner", [], answer)]}]},
            ],
            "clusters": [{"name": "tunnels", "type": "STATIC", "connect_timeout": "1s", "lb_policy": "ROUND_ROBIN",
                          "load_assignment": {"cluster_name": "tunnels", "endpoints": [{"lb_endpoints": hosts}]}}],
        },
    }  # fmt: skip


@dataclass
class Gateway:
    admin: int
    port: int

    def get(self, value: str | None = None) -> tuple[str, str | None]:
        """(the host Envoy sent the request to, the session value it issued or None)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/", headers={HEADER: value} if value else {})
            response = conn.getresponse()
            body = response.read().decode()
            assert response.status == 200, body
            host = response.getheader("x-upstream")
            assert host, response.getheaders()
            return host, response.getheader(HEADER)
        finally:
            conn.close()


@pytest.fixture(scope="module", params=version_params())
def gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    binary: EnvoyBinary = request.param
    admin, port = free_ports(2)
    # Every resource is static: the lab's Envoy runs this bootstrap with no xDS to serve.
    with LabEnvoy(_config(admin, port), XdsSnapshot(), envoy=binary.path) as envoy:
        host, admin_port = envoy.admin_address
        assert host == "127.0.0.1"
        yield Gateway(admin_port, port)


def test_the_issued_value_decodes_to_the_internal_host(gateway: Gateway) -> None:
    seen: dict[str, str] = {}
    for _ in range(4):  # round robin: both hosts
        host, issued = gateway.get()
        assert issued is not None
        value = decode_header_value(issued)
        assert isinstance(value, SessionValue), value
        assert value.upstream == host  # the exact asString() Envoy matches on
        assert value.internal_listener == LISTENER
        assert value.endpoint in ENDPOINTS
        seen[host] = issued
    assert sorted(seen) == sorted(f"envoy://{LISTENER}/{e}" for e in ENDPOINTS)


def test_the_value_pins_its_host_and_why_agrees(gateway: Gateway) -> None:
    host, issued = gateway.get()
    assert issued is not None
    for _ in range(6):
        assert gateway.get(issued) == (host, None)  # pinned, and no new value issued
    result = invoke("why", "--admin-url", f"http://127.0.0.1:{gateway.admin}", "--url",
                    f"http://127.0.0.1:{gateway.port}/", "-H", f"{HEADER}:{issued}", "-o", "json")
    assert result.exit_code == 0, result.stderr + result.stdout
    doc = result.json()
    assert (doc["verdict"], doc["upstream"]) == ("sticks", host)


def test_decode_names_the_tunnel(gateway: Gateway) -> None:
    host, issued = gateway.get()
    assert issued is not None
    result = invoke("decode", issued)
    assert result.exit_code == 0, result.stderr
    assert host in result.stdout
    endpoint = host.rsplit("/", 1)[1]
    assert f"internal listener '{LISTENER}': a tunnel (HBONE in Istio) to {endpoint}" in result.stdout
    doc = invoke("decode", issued, "-o", "json").json()
    (entry,) = doc["values"]
    assert (entry["upstream"], entry["internal_listener"], f"{entry['address']}:{entry['port']}") == (
        host, LISTENER, endpoint)
