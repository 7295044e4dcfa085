"""Which clock a real Envoy stamps and checks the session cookie's expiry with (envoyproxy/envoy#44111).

Run on every Envoy found (tests/other_envoys.py: the lab's, ``.envoy-versions/*`` from
scripts/install_test_envoys.py, ``STICKYCTL_TEST_ENVOYS``), each must do what
``stickyctl.istio.versions.COOKIE_EXPIRY_HOST_CLOCK`` says of its version:

- Envoy 1.27–1.38: ``expires`` = the node's uptime (CLOCK_MONOTONIC, Envoy's steady_clock) + TTL; a
  cookie stamped with that clock sticks, one stamped a second in that clock's past is expired, and a
  Unix-time stamp (decades beyond any uptime) never expires;
- Envoy 1.39+ (PR 44981): ``expires`` = Unix time + TTL; an uptime stamp is decades in the past.

Whether a cookie was honoured needs no timing: an honoured cookie sends the request to its pod and
Envoy issues no Set-Cookie; an expired one is ignored, so Envoy always issues a new cookie. Then
STK0308 on two replicas' dumps from that Envoy: a finding exactly on the uptime-clock versions.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from stickyctl.envoy.session_values import SessionValue, decode_cookie_value, encode_cookie
from stickyctl.istio import versions
from stickyctl.lab import xds
from stickyctl.lab.backends import Backend, BackendSpec, pod_name
from stickyctl.lab.envoy import LabEnvoy, start_gateway
from tests.conftest import invoke
from tests.other_envoys import EnvoyBinary, version_params

TTL = 3600
PODS = [xds.Endpoint(f"127.0.9.{i}", 5000, "helloworld-v1", "helloworld", "helloworld", "v1") for i in (1, 2, 3)]
CLUSTER = xds.outbound_cluster_name(5000, xds.HELLOWORLD.host)
REPLICAS = ("istio-ingressgateway-6b7f9c8d5-x7k2p", "istio-ingressgateway-6b7f9c8d5-m4q9z")


def _gateway(ports: xds.LabPorts, layout: xds.XdsLayout) -> xds.XdsSnapshot:
    session = xds.per_route_session(xds.cookie_session_state(xds.COOKIE_NAME, ttl=f"{TTL}s"))
    return xds.gateway_snapshot(
        ports=ports, layout=layout,
        routes=[xds.route(name="hello", match=xds.exact_path("/hello"), cluster=CLUSTER, per_filter_config=session,
                          operation="hello")],
        clusters=[xds.eds_cluster(service=xds.HELLOWORLD, port=5000, layout=layout,
                                  override_host_status=xds.ISTIO_OVERRIDE_HOST_STATUS)],
        load_assignments=[xds.load_assignment(CLUSTER, PODS)],
        filter_placement="before_router",
    )  # fmt: skip


@dataclass
class Gateway:
    binary: EnvoyBinary
    envoys: list[LabEnvoy]

    def get(self, cookie: str | None = None) -> tuple[str, str | None]:
        """(the pod that answered, the Set-Cookie value issued or None)."""
        envoy = self.envoys[0]
        assert envoy.ports is not None
        conn = http.client.HTTPConnection(envoy.ports.address, envoy.ports.gateway, timeout=10)
        try:
            conn.request("GET", "/hello", headers={"cookie": f"{xds.COOKIE_NAME}={cookie}"} if cookie else {})
            response = conn.getresponse()
            body = response.read().decode()
            assert response.status == 200, body
            set_cookie = response.getheader("set-cookie")
        finally:
            conn.close()
        pod = body.split("instance: ", 1)[1].split()[0]
        value = set_cookie.split(";", 1)[0].partition("=")[2].strip('"') if set_cookie else None
        return pod, value


@pytest.fixture(scope="module", params=version_params())
def gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """Two replicas of a cookie-TTL gateway (the node identities of two pods of one Deployment)."""
    binary: EnvoyBinary = request.param
    backends = [Backend(BackendSpec(p.address, 5000, "v1", pod_name(p.workload, p.address))) for p in PODS]
    with ExitStack() as stack:
        for b in backends:
            b.start()
            stack.callback(b.stop)
        envoys = [stack.enter_context(start_gateway(_gateway, envoy=binary.path,
                                                    identity=xds.GatewayIdentity(pod_name=pod)))
                  for pod in REPLICAS]  # fmt: skip
        yield Gateway(binary, envoys)


def _uptime() -> int:
    # Envoy's monotonicTime() is std::chrono::steady_clock: CLOCK_MONOTONIC, the node's uptime.
    return int(time.clock_gettime(time.CLOCK_MONOTONIC))


def _pod(address: str) -> str:
    return pod_name("helloworld-v1", address)


def test_the_clock_of_the_cookie_expiry_is_the_one_versions_says(gateway: Gateway) -> None:
    version = versions.parse_envoy_version(gateway.binary.version)
    assert version is not None
    uptime_clock = versions.COOKIE_EXPIRY_HOST_CLOCK.holds(version)
    _pod_answered, issued = gateway.get()
    assert issued is not None
    decoded = decode_cookie_value(issued)
    assert isinstance(decoded, SessionValue) and decoded.expires is not None
    clock = _uptime() if uptime_clock else int(time.time())
    # The stamp is clock + TTL; a generous margin for the request, never a duration under test.
    assert abs(decoded.expires - (clock + TTL)) < 600, (gateway.binary.version, decoded.expires, clock)

    target = PODS[1].address
    on_uptime = encode_cookie(target, 5000, TTL, _uptime())
    on_unix = encode_cookie(target, 5000, TTL, int(time.time()))
    expired_by_uptime = encode_cookie(target, 5000, 1, _uptime() - 2)  # issued on a node booted later
    expired_by_unix = encode_cookie(target, 5000, 1, int(time.time()) - 2)
    honoured = {name: gateway.get(value) == (_pod(target), None)
                for name, value in (("uptime", on_uptime), ("unix", on_unix),
                                    ("expired by uptime", expired_by_uptime), ("expired by unix", expired_by_unix))}
    if uptime_clock:
        # A Unix stamp is decades beyond any uptime: the old replicas never expire the new ones' cookies.
        want = {"uptime": True, "unix": True, "expired by uptime": False, "expired by unix": True}
    else:
        # An uptime stamp is decades in the Unix past: the new replicas reject the old ones' cookies.
        want = {"uptime": False, "unix": True, "expired by uptime": False, "expired by unix": False}
    assert honoured == want, gateway.binary.version


def test_stk0308_on_replicas_of_this_envoy(gateway: Gateway, tmp_path: Path) -> None:
    args: list[str] = []
    for envoy, pod in zip(gateway.envoys, REPLICAS, strict=True):
        path = tmp_path / f"{pod}.json"
        path.write_text(json.dumps(envoy.config_dump()))
        args += ["-f", str(path)]
    result = invoke("check", *args, "-o", "json")
    doc = json.loads(result.stdout)
    fleet = [f for f in doc["findings"] if f["code"] == "STK0308"]
    version = versions.parse_envoy_version(gateway.binary.version)
    assert version is not None
    if versions.COOKIE_EXPIRY_HOST_CLOCK.holds(version):
        assert [f["resource_id"] for f in fleet] == ["object:Deployment/istio-ingress/istio-ingressgateway"]
        assert "uptime clock" in fleet[0]["message"]
    else:
        assert fleet == []
