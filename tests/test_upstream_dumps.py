"""Real config dumps from public projects (../shared/upstream-dumps): no crash, sensible results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import UPSTREAM, RunCli, need_shared

DUMPS = sorted(p for p in UPSTREAM.glob("istio/*") if p.suffix in (".json", ".yaml")) if UPSTREAM.is_dir() else []
OPENSHIFT = UPSTREAM / "openshift-istio-playground" / "ingresspod-config-dump.json"


@pytest.mark.parametrize("dump", DUMPS, ids=[p.name for p in DUMPS])
def test_istio_testdata_checks_cleanly(run_cli: RunCli, dump: Path) -> None:
    need_shared()
    res = run_cli("check", "-f", str(dump), "-o", "json")
    assert "Traceback" not in res.stdout + res.stderr
    # None of these carries session config and no manifests say anything is sticky: a missing
    # filter is the flag's default (sidecars, waypoints, connect_terminate, a 1.20 gateway), not a
    # finding. Issue 14: these failed with STK0201 errors before.
    assert res.exit_code == 0, res.stdout
    doc = json.loads(res.stdout)
    assert doc["summary"]["sticky_services"] == 0
    assert doc["findings"] == []
    assert any("nothing is known to be sticky" in n for n in doc["summary"]["not_checked"])


def test_real_istio_1_20_gateway_nothing_sticky_passes(run_cli: RunCli) -> None:
    need_shared()
    res = run_cli("check", "-f", str(OPENSHIFT), "-o", "json")
    assert res.exit_code == 0 and json.loads(res.stdout)["findings"] == []


def test_waypoint_dump_is_not_expected_to_carry_the_filter(run_cli: RunCli) -> None:
    need_shared()
    res = run_cli("check", "-f", str(UPSTREAM / "istio" / "proxyconfig__testdata__config_dump.json"), "-o", "json")
    doc = json.loads(res.stdout)
    assert doc["proxies"][0]["kind"] == "waypoint"
    assert doc["findings"] == []
    assert any("waypoint" in n for n in doc["summary"]["not_checked"])


def test_real_istio_1_20_gateway_flag_off_with_labelled_service(run_cli: RunCli, tmp_path: Path) -> None:
    need_shared()
    svc = tmp_path / "svc.yaml"
    svc.write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: hello-openshift\n  namespace: vanilla-playground\n"
        "  labels:\n    istio.io/persistent-session-header: x-session-header\nspec:\n  ports: [{port: 8080}]\n"
    )
    res = run_cli("check", "-f", str(OPENSHIFT), "--services", str(svc), "-o", "json")
    doc = json.loads(res.stdout)
    assert res.exit_code == 1
    proxy = "proxy:istio-ingressgateway-74ddf8dd9f-6p8p2.istio-system"
    got = {(f["code"], f["resource_id"]) for f in doc["findings"]}
    # Stickiness is expected (a labelled Service is routed to), so the missing filter is an error,
    # one per proxy.
    assert ("STK0201", proxy) in got
    assert ("STK0301", f"{proxy}/route_config:http.8080/virtual_host:*:8080/route:#0") in got
    # A header label: istiod 1.20 drops the Service's draining pods from EDS (STK0404); adding
    # DRAINING to the cluster (STK0401's fix) would not help, so STK0401 is not reported.
    cluster = "outbound|8080||hello-openshift.vanilla-playground.svc.cluster.local"
    assert ("STK0404", f"{proxy}/cluster:{cluster}") in got
    assert len(got) == 3
    assert doc["proxies"][0]["istio_version"] == "1.20.8"
    assert doc["proxies"][0]["envoy_version"] == "1.28.8"
    assert doc["proxies"][0]["kind"] == "router"


def test_envoy_gateway_session_persistence_xds(run_cli: RunCli) -> None:
    """Envoy Gateway: filter `disabled: true` on the HCM, enabled per route (ISTIO-NOTES)."""
    need_shared()
    eg = UPSTREAM / "envoy-gateway"
    files = [eg / f"out__xds-ir__http-route-session-persistence.{k}.yaml" for k in ("listeners", "routes", "clusters")]
    res = run_cli("check", *[a for f in files for a in ("-f", str(f))], "-o", "json")
    doc = json.loads(res.stdout)
    codes = sorted(f["code"] for f in doc["findings"])
    assert "STK0201" not in codes  # the disabled filter is present
    # Its cookie path /v2/ misses the route's path_separated_prefix /v2 (the request path "/v2").
    assert "STK0307" in codes
    assert doc["summary"]["labels_checked"] is False
    # Per-route session configs that differ by design: one warning for the cluster, no error against
    # a name inferred from one route (issue 14: STK0302/STK0303 errors before).
    assert res.exit_code == 0
    assert not [f for f in doc["findings"] if f["severity"] == "error"]
    (differs,) = [f for f in doc["findings"] if f["code"] == "STK0312"]
    assert differs["resource"]["cluster"] == "regex-route-dest"
    assert "header 'session-header'" in differs["message"] and "cookie 'session-cookie'" in differs["message"]
