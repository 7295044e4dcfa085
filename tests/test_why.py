"""`stickyctl why` without a live Envoy: recorded fixtures, synthetic route tables, matchers, CLI errors.

The agreement with a real Envoy is proven in tests/test_why_matrix.py; here each decision of the
walk is pinned down on inputs built for it (istioctl camelCase included), and the command's
contract: exit statuses, one-line errors, the JSON document.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stickyctl.envoy import schema as sc
from stickyctl.envoy.session_values import encode_cookie, encode_header
from stickyctl.lab import xds
from stickyctl.why import matchers as mt
from stickyctl.why.hosts import effective_status
from stickyctl.why.request import RequestError, build_request
from tests.conftest import CASES, FIXTURES, RunCli

ADMIN = "type.googleapis.com/envoy.admin.v3."
CLUSTER = xds.helloworld_cluster_name()
POD = "127.0.0.12:5000"
LAYOUT = xds.XdsLayout()


def _v(upstream: str = POD) -> str:
    ip, port = upstream.rsplit(":", 1)
    return encode_header(ip, int(port))


def why(run_cli: RunCli, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("why", *args, "-o", "json")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code in (0, 1), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, doc


def fixture(case: str) -> str:
    return str(CASES / case / "dump.json")


# --- recorded fixtures (a real Envoy's dumps, with EDS) ------------------------------------------


def test_sticks_on_the_seed(run_cli: RunCli) -> None:
    code, doc = why(run_cli, "-f", fixture("pass-helloworld-header"), "--url", "http://gw/hello",
                    "--header", f"x-session-header:{_v()}")
    assert code == 0
    assert doc["verdict"] == "sticks" and doc["upstream"] == POD and doc["status"] == 200
    assert doc["workload"] == "helloworld-v2"
    assert (doc["listener"], doc["route_config"], doc["virtual_host"], doc["route"]) == (
        "0.0.0.0_8080", "http.8080", "*:8080", "hello")
    assert doc["clusters"] == [CLUSTER]
    assert doc["session"]["mode"] == "header" and doc["session"]["level"] == "route"
    assert [s["step"] for s in doc["trace"]] == ["listener", "filter chain", "virtual host", "route", "session",
                                                  "value", "cluster", "endpoint"]
    assert "80 to 8080" in doc["trace"][0]["detail"]  # the URL had no port: Istio's 80 -> 8080
    assert doc["host_source"] == "EDS in the dump"


WAYPOINT_DUMP = str(FIXTURES / "istiod" / "header-behind-waypoint" / "recorded" / "config_dump.json")
WAYPOINT_HOST = "envoy://connect_originate/127.0.0.31:15008"
"""What istiod sent the gateway for the waypoint-fronted Service: one HBONE tunnel to the waypoint
pod (STK0107); Envoy spells that host so (tests/test_internal_address_sessions.py)."""


def test_a_session_behind_a_waypoint_pins_the_waypoint_pod(run_cli: RunCli) -> None:
    value = base64.b64encode(WAYPOINT_HOST.encode()).decode()
    code, doc = why(run_cli, "-f", WAYPOINT_DUMP, "--url", "http://hello.example.com/hello",
                    "--header", f"x-session-header:{value}")
    assert code == 0
    assert (doc["verdict"], doc["upstream"]) == ("sticks", WAYPOINT_HOST)
    assert doc["workload"] == "waypoint-7d9f6b8c5-w1a2b"
    # The pod's own address is no host of the gateway's cluster there: such a value is re-balanced.
    code, doc = why(run_cli, "-f", WAYPOINT_DUMP, "--url", "http://hello.example.com/hello",
                    "--header", f"x-session-header:{_v('127.0.0.11:5000')}")
    assert code == 1 and doc["verdict"] == "rebalanced"


def test_table_output_names_each_step(run_cli: RunCli) -> None:
    result = run_cli("why", "-f", fixture("pass-helloworld-header"), "--url", "http://gw/hello",
                     "--header", f"x-session-header:{_v()}")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("listener") and "0.0.0.0_8080" in lines[0]
    assert any(line.startswith("route") and "hello" in line for line in lines)
    assert "sticks to 127.0.0.12:5000 (helloworld-v2)" in lines


def test_no_session_value_names_the_new_one(run_cli: RunCli) -> None:
    code, doc = why(run_cli, "-f", fixture("pass-helloworld-cookie"), "--url", "http://gw:8080/hello")
    assert code == 0 and doc["verdict"] == "rebalanced" and not doc["value_given"]
    assert doc["new_value"] == {"mode": "cookie", "name": "sticky", "path": "/", "ttl_seconds": None}


@pytest.mark.parametrize(("case", "args", "verdict", "words"), [
    ("STK0301-no-route-config", [], "rebalanced", "no session config"),
    ("STK0304-disabled", [], "rebalanced", "disabled"),
    ("STK0201-filter-missing", ["--cookie", "sticky={c}"], "rebalanced", "STK0201"),
    ("STK0302-name-mismatch", [], "rebalanced", "x-session"),
    ("STK0402-empty-override", [], "rebalanced", "set but empty"),
    ("STK0403-cluster-missing", [], "unavailable", "not in CDS"),
    ("STK0306-weighted", [], "rebalanced", "Envoy issue 24741"),
    ("STK0307-cookie-path", ["--cookie", "sticky={c}"], "rebalanced", "does not cover /hello"),
    ("STK0203-ecds", [], "sticks", "override_host_status"),
    ("STK0202-STK0204-filter-after-router", [], "sticks", "override_host_status"),
])
def test_fixture_verdicts(run_cli: RunCli, case: str, args: list[str], verdict: str, words: str) -> None:
    ip, port = POD.split(":")
    cookie = encode_cookie(ip, int(port), None, 0)
    args = [a.replace("{c}", cookie) for a in args] or ["--header", f"x-session-header:{_v()}"]
    code, doc = why(run_cli, "-f", fixture(case), "--url", "http://gw:8080/hello", *args)
    assert doc["verdict"] == verdict, doc["reason"]
    assert words in doc["reason"]
    assert code == (0 if verdict == "sticks" else 1)
    if case == "STK0306-weighted":
        shares = {d["cluster"].split("|")[3].split(".")[0]: (d["share"], d["verdict"]) for d in doc["destinations"]}
        assert shares == {"helloworld-v1": (0.9, "rebalanced"), "helloworld-v2": (0.1, "sticks")}


def test_dump_cannot_tell_draining_from_unhealthy(run_cli: RunCli, tmp_path: Path) -> None:
    dump = json.loads(Path(fixture("pass-helloworld-header")).read_text())
    for section in dump["configs"]:
        for entry in section.get("dynamic_endpoint_configs", []):
            for group in entry["endpoint_config"].get("endpoints", []):
                for lb in group["lb_endpoints"]:
                    if lb["endpoint"]["address"]["socket_address"]["address"] == "127.0.0.12":
                        lb["health_status"] = "UNHEALTHY"  # how Envoy 1.40 dumps a DRAINING endpoint
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    code, doc = why(run_cli, "-f", str(path), "--url", "http://gw/hello", "--header", f"x-session-header:{_v()}")
    assert code == 1 and doc["verdict"] == "rebalanced"
    assert any("DRAINING" in c and "--admin-url" in c for c in doc["caveats"])


def test_a_dump_without_endpoints_cannot_be_checked(run_cli: RunCli, tmp_path: Path) -> None:
    dump = json.loads(Path(fixture("pass-helloworld-header")).read_text())
    dump["configs"] = [c for c in dump["configs"] if "Endpoints" not in c["@type"]]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    result = run_cli("why", "-f", str(path), "--url", "http://gw/hello", "--header", f"x-session-header:{_v()}")
    assert result.exit_code == 3 and result.stderr.count("\n") == 1 and "include_eds" in result.stderr
    # ... but what needs no endpoints is still answered
    assert run_cli("why", "-f", str(path), "--url", "http://gw/nope").exit_code == 1


def test_expired_cookie(run_cli: RunCli) -> None:
    ip, port = POD.split(":")
    cookie = encode_cookie(ip, int(port), 120, 1_800_000_000)
    args = ["-f", fixture("pass-helloworld-cookie"), "--url", "http://gw/hello", "--cookie", f"sticky={cookie}"]
    code, doc = why(run_cli, *args, "--now", str(1_800_000_000 + 60))
    assert code == 0 and doc["verdict"] == "sticks"
    code, doc = why(run_cli, *args, "--now", str(1_800_000_000 + 121))
    assert code == 1 and doc["verdict"] == "rebalanced" and "expired" in doc["reason"]
    assert doc["value"]["expired"] is True and doc["new_value"]["name"] == "sticky"


def test_rejected_value_says_why(run_cli: RunCli) -> None:
    value = encode_header("127.0.0.1", 5000)  # 14 bytes: padded
    code, doc = why(run_cli, "-f", fixture("pass-helloworld-header"), "--url", "http://gw/hello",
                    "--header", f"x-session-header:{value.rstrip('=')}")
    assert code == 1 and doc["verdict"] == "rebalanced" and "unpadded" in doc["reason"]
    assert doc["value"]["valid"] is False


# --- synthetic route tables: virtual hosts and route matchers ----------------------------------------


def _camel(obj: Any, *, keep_keys: bool = False) -> Any:
    """protojson (istioctl) spelling: lowerCamelCase field names; map keys stay as they are."""
    if isinstance(obj, list):
        return [_camel(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, value in obj.items():
        maps = key in ("typed_per_filter_config", "filter_metadata")
        name = key if keep_keys or key.startswith("@") else (
            key.split("_")[0] + "".join(p.title() for p in key.split("_")[1:]))
        out[name] = {k: _camel(v) for k, v in value.items()} if maps else _camel(value)
    return out


def _route(name: str, match: dict[str, Any], sticky: bool = True, **action: Any) -> dict[str, Any]:
    route = {"name": name, "match": match, "route": {"cluster": CLUSTER, **action}}
    if sticky:
        route["typed_per_filter_config"] = xds.per_route_session(xds.header_session_state())
    return route


def _dump(virtual_hosts: list[dict[str, Any]], *, ignore_port: bool = False,
          chains: list[dict[str, Any]] | None = None, listener_filters: tuple[str, ...] = ()) -> dict[str, Any]:
    ports = xds.LabPorts(admin=15000, gateway=8080, prometheus=15090, health=15021)
    listener = xds.gateway_listener(port=ports.gateway, http_filters=xds.gateway_http_filters(), layout=LAYOUT,
                                    bind_address="0.0.0.0")
    if chains is not None:
        listener["filter_chains"] = chains
    if listener_filters:
        listener["listener_filters"] = [{"name": n} for n in listener_filters]
    rc = xds.route_configuration("http.8080", virtual_hosts)
    rc["ignore_port_in_host_matching"] = ignore_port
    cluster = xds.eds_cluster(service=xds.HELLOWORLD, port=5000, layout=LAYOUT)
    cla = xds.load_assignment(CLUSTER, xds.helloworld_endpoints(count=3))
    return {"configs": [
        {"@type": ADMIN + "ListenersConfigDump",
         "dynamic_listeners": [{"name": listener["name"], "active_state": {"listener": listener}}]},
        {"@type": ADMIN + "ClustersConfigDump", "dynamic_active_clusters": [{"cluster": cluster}]},
        {"@type": ADMIN + "RoutesConfigDump", "dynamic_route_configs": [{"route_config": rc}]},
        {"@type": ADMIN + "EndpointsConfigDump", "dynamic_endpoint_configs": [{"endpoint_config": cla}]},
    ]}


def _vh(name: str, domains: list[str], routes: list[dict[str, Any]]) -> dict[str, Any]:
    return xds.virtual_host(name, routes, domains=domains)


HOSTS = [
    _vh("exact", ["shop.example.com"], [_route("exact", {"prefix": "/"})]),
    _vh("long-suffix", ["*.eu.shop.example.com"], [_route("long-suffix", {"prefix": "/"})]),
    _vh("suffix", ["*.shop.example.com"], [_route("suffix", {"prefix": "/"})]),
    _vh("prefix", ["api.*"], [_route("prefix", {"prefix": "/"})]),
    _vh("with-port", ["ported.example.com:8080"], [_route("with-port", {"prefix": "/"})]),
]


@pytest.mark.parametrize(("host", "ignore_port", "vhost"), [
    ("shop.example.com", False, "exact"),
    ("SHOP.example.com", False, "exact"),
    ("shop.example.com:8080", False, None),  # the port is part of the Host: no domain says it
    ("shop.example.com:8080", True, "exact"),
    ("a.shop.example.com", False, "suffix"),
    ("a.eu.shop.example.com", False, "long-suffix"),  # the longest wildcard wins
    ("eu.shop.example.com", False, "suffix"),  # '*' must stand for at least one character
    ("api.example.org", False, "prefix"),
    ("ported.example.com:8080", False, "with-port"),
    ("ported.example.com:8080", True, None),  # the port is ignored in the Host, not in the domain
    ("ported.example.com", False, None),
    ("nowhere.test", False, None),
])
def test_virtual_host_selection(run_cli: RunCli, tmp_path: Path, host: str, ignore_port: bool,
                                vhost: str | None) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(_dump(HOSTS, ignore_port=ignore_port)))
    code, doc = why(run_cli, "-f", str(path), "--url", "http://gw:8080/x", "--header", f"Host:{host}",
                    "--header", f"x-session-header:{_v()}")
    assert doc["virtual_host"] == vhost
    if vhost is None:
        assert doc["verdict"] == "no_route" and doc["status"] == 404 and code == 1
    else:
        assert doc["verdict"] == "sticks"


ROUTES = [
    _route("regex", {"safe_regex": {"regex": "/items/[0-9]{2,3}"}}),
    _route("separated", {"path_separated_prefix": "/api"}),
    _route("nocase", {"prefix": "/Docs", "case_sensitive": False}),
    _route("hdr-exact", {"prefix": "/h", "headers": [{"name": "x-env", "string_match": {"exact": "Prod",
                                                                                        "ignore_case": True}}]}),
    _route("hdr-absent", {"prefix": "/h", "headers": [{"name": "x-debug", "present_match": False},
                                                      {"name": "x-tier", "prefix_match": "gold"}]}),
    _route("hdr-invert", {"prefix": "/h", "headers": [{"name": "x-tier", "exact_match": "silver",
                                                       "invert_match": True}]}, sticky=False),
    _route("hdr-range", {"prefix": "/r", "headers": [{"name": "x-n", "range_match": {"start": "10", "end": "20"}}]}),
    _route("hdr-regex", {"prefix": "/r", "headers": [{"name": "x-n", "safe_regex_match": {"regex": "a+b"}}]}),
    _route("query", {"prefix": "/q", "query_parameters": [{"name": "v", "string_match": {"prefix": "2"}}]}),
    _route("method", {"prefix": "/m", "headers": [{"name": ":method", "string_match": {"exact": "POST"}}]}),
    _route("missing-empty", {"prefix": "/e", "headers": [{"name": "x-e", "string_match": {"exact": ""},
                                                          "treat_missing_header_as_empty": True}]}),
    _route("rest", {"prefix": "/"}, sticky=False),
]


@pytest.mark.parametrize(("path", "headers", "method", "route"), [
    ("/items/42", [], "GET", "regex"),
    ("/items/4", [], "GET", "rest"),
    ("/items/42?x=1", [], "GET", "regex"),  # the query is not part of the path match
    ("/api", [], "GET", "separated"),
    ("/api/v1", [], "GET", "separated"),
    ("/apiv1", [], "GET", "rest"),
    ("/docs/x", [], "GET", "nocase"),
    ("/h", ["x-env:PROD"], "GET", "hdr-exact"),
    ("/h", ["x-tier:gold-plus"], "GET", "hdr-absent"),
    ("/h", ["x-tier:gold-plus", "x-debug:1"], "GET", "hdr-invert"),
    ("/h", ["x-tier:silver"], "GET", "rest"),
    ("/h", [], "GET", "rest"),  # a missing header never matches an inverted exact match (only present/absent)
    ("/r", ["x-n:15"], "GET", "hdr-range"),
    ("/r", ["x-n:20"], "GET", "rest"),
    ("/r", ["x-n:aab"], "GET", "hdr-regex"),
    ("/q?v=2.1", [], "GET", "query"),
    ("/q?v=1&v=2", [], "GET", "rest"),  # the first value decides
    ("/m", [], "POST", "method"),
    ("/m", [], "GET", "rest"),
    ("/e", [], "GET", "missing-empty"),
])
def test_route_selection(run_cli: RunCli, tmp_path: Path, path: str, headers: list[str], method: str,
                         route: str) -> None:
    file = tmp_path / "routes.json"
    # istioctl proxy-config all -o json style: protojson, camelCase
    file.write_text(json.dumps(_camel(_dump([_vh("any", ["*"], ROUTES)]))))
    args = ["-f", str(file), "--url", f"http://gw:8080{path}", "-X", method]
    for h in headers:
        args += ["--header", h]
    _, doc = why(run_cli, *args)
    assert doc["route"] == route, doc["reason"]


def test_unsupported_regex_is_not_guessed(run_cli: RunCli, tmp_path: Path) -> None:
    file = tmp_path / "dump.json"
    file.write_text(json.dumps(_dump([_vh("any", ["*"], [_route("posix", {"safe_regex": {"regex": "/[[:alpha:]]+"}}),
                                                         _route("rest", {"prefix": "/"})])])))
    result = run_cli("why", "-f", str(file), "--url", "http://gw:8080/abc")
    assert result.exit_code == 3 and result.stderr.count("\n") == 1 and "POSIX classes" in result.stderr


def test_case_sensitive_path_hint(run_cli: RunCli) -> None:
    code, doc = why(run_cli, "-f", fixture("pass-helloworld-header"), "--url", "http://gw/Hello")
    assert code == 1 and doc["verdict"] == "no_route" and "only in another case" in doc["reason"]


# --- filter chains -----------------------------------------------------------------------------


def _chain(name: str, route_config: str, **match: Any) -> dict[str, Any]:
    hcm = xds.http_connection_manager(stat_prefix=name, http_filters=xds.gateway_http_filters(),
                                      rds={"config_source": {"ads": {}}, "route_config_name": route_config})
    chain: dict[str, Any] = {"name": name, "filters": [{"name": xds.HCM_FILTER, "typed_config": hcm}]}
    if match:
        chain["filter_chain_match"] = match
    return chain


def test_sni_picks_the_filter_chain(run_cli: RunCli, tmp_path: Path) -> None:
    chains = [_chain("plain", "missing-rc", transport_protocol="raw_buffer"),
              _chain("shop", "http.8080", server_names=["*.example.com"], transport_protocol="tls"),
              _chain("exact", "other-rc", server_names=["api.example.com"], transport_protocol="tls")]
    file = tmp_path / "dump.json"
    file.write_text(json.dumps(_dump([_vh("any", ["*"], [_route("all", {"prefix": "/"})])], chains=chains,
                                     listener_filters=("envoy.filters.listener.tls_inspector",))))
    _, doc = why(run_cli, "-f", str(file), "--url", "https://shop.example.com:8080/")
    assert doc["filter_chain"] == "shop" and doc["route"] == "all"
    _, doc = why(run_cli, "-f", str(file), "--url", "https://api.example.com:8080/")
    assert doc["filter_chain"] == "exact" and doc["verdict"] == "no_route" and "other-rc" in doc["reason"]
    _, doc = why(run_cli, "-f", str(file), "--url", "http://shop.example.com:8080/")
    assert doc["filter_chain"] == "plain"


def test_listener_selection(run_cli: RunCli) -> None:
    _, doc = why(run_cli, "-f", fixture("pass-helloworld-header"), "--url", "http://gw:9999/hello")
    assert doc["verdict"] == "no_route" and doc["status"] is None and "no listener on port 9999" in doc["reason"]
    _, doc = why(run_cli, "-f", fixture("pass-helloworld-header"), "--url", "http://gw:9999/hello",
                 "--listener", "0.0.0.0_8080")
    assert doc["route"] == "hello"
    bad = run_cli("why", "-f", fixture("pass-helloworld-header"), "--url", "http://gw/", "--listener", "nope")
    assert bad.exit_code == 2 and "no such listener" in bad.stderr and bad.stderr.count("\n") == 1


# --- runtime host state (/clusters) --------------------------------------------------------------


def test_runtime_status_from_admin_clusters(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    from stickyctl.envoy import admin

    dump = json.loads(Path(fixture("pass-helloworld-header")).read_text())
    clusters = {"cluster_statuses": [{"name": CLUSTER, "host_statuses": [
        {"address": {"socket_address": {"address": "127.0.0.12", "port_value": 5000}},
         "health_status": {"eds_health_status": "HEALTHY", "failed_outlier_check": True}},
        {"address": {"socket_address": {"address": "127.0.0.13", "port_value": 5000}},
         "health_status": {"eds_health_status": "DRAINING"}},
    ]}]}
    requested: list[str] = []

    def fake_get(self: admin.AdminClient, path: str) -> bytes:
        requested.append(path)
        if path.startswith("clusters"):
            return json.dumps(clusters).encode()
        return json.dumps(dump).encode()

    monkeypatch.setattr(admin.AdminClient, "get", fake_get)
    monkeypatch.setattr(admin.AdminClient, "fetch_configs", lambda self: dump["configs"])
    code, doc = why(run_cli, "--admin-url", "http://admin:15000", "--url", "http://gw/hello",
                    "--header", f"x-session-header:{_v()}")
    assert requested == ["clusters?format=json"]
    assert code == 1 and doc["verdict"] == "rebalanced" and "failed_outlier_check" in doc["reason"]
    assert doc["destinations"][0]["host"]["status"] == "UNHEALTHY" and doc["host_source"] == "/clusters (runtime)"
    _, doc = why(run_cli, "--admin-url", "http://admin:15000", "--url", "http://gw/hello",
                 "--header", f"x-session-header:{_v('127.0.0.13:5000')}")
    assert doc["verdict"] == "sticks" and doc["destinations"][0]["host"]["status"] == "DRAINING"


def test_effective_status_follows_envoy() -> None:
    assert effective_status("HEALTHY", ()) == "HEALTHY"
    assert effective_status("UNKNOWN", ()) == "UNKNOWN"
    assert effective_status("DRAINING", ("failed_outlier_check",)) == "UNHEALTHY"
    assert effective_status("DRAINING", ("failed_active_degraded_check",)) == "DRAINING"
    assert effective_status("HEALTHY", ("failed_active_degraded_check",)) == "DEGRADED"


# --- the command's contract --------------------------------------------------------------------


@pytest.mark.parametrize(("args", "words"), [
    (["--url", "http://gw/"], "-f DUMP or --admin-url"),
    (["-f", "x.json", "--admin-url", "http://a", "--url", "http://gw/"], "-f DUMP or --admin-url"),
    (["-f", "x.json", "--url", "ftp://gw/"], "only http:// and https://"),
    (["-f", "x.json", "--url", "http://gw:99999/"], "--url"),
    (["-f", "x.json", "--url", "http://gw/", "--header", "no-colon"], "NAME:VALUE"),
    (["-f", "x.json", "--url", "http://gw/", "--cookie", "novalue"], "NAME=VALUE"),
    (["-f", "x.json", "--url", "http://gw/", "-X", "get me"], "not an HTTP method"),
    (["-f", "x.json", "--url", "http://gw/", "-o", "yaml"], "table or json"),
])
def test_usage_errors_are_one_line(run_cli: RunCli, args: list[str], words: str) -> None:
    result = run_cli("why", *args)
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_url_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("why", "-f", "x.json")
    assert result.exit_code == 2 and "--url" in result.stderr


def test_unreadable_inputs_exit_3(run_cli: RunCli, tmp_path: Path) -> None:
    missing = run_cli("why", "-f", str(tmp_path / "nope.json"), "--url", "http://gw/")
    assert missing.exit_code == 3 and missing.stderr.count("\n") == 1 and "no such file" in missing.stderr
    (tmp_path / "bad.json").write_text("{not json")
    bad = run_cli("why", "-f", str(tmp_path / "bad.json"), "--url", "http://gw/")
    assert bad.exit_code == 3 and bad.stderr.count("\n") == 1
    unreachable = run_cli("why", "--admin-url", "http://127.0.0.1:9", "--url", "http://gw/", "--timeout", "2")
    assert unreachable.exit_code == 3 and unreachable.stderr.count("\n") == 1


def test_two_proxies_are_refused(run_cli: RunCli, tmp_path: Path) -> None:
    dump = json.loads(Path(fixture("pass-helloworld-header")).read_text())
    for section in dump["configs"]:
        if "Bootstrap" in section["@type"]:
            node = section["bootstrap"]["node"]
            node["id"] = "router~10.0.0.9~other-gw.istio-ingress~istio-ingress.svc.cluster.local"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dump))
    result = run_cli("why", "-f", fixture("pass-helloworld-header"), "-f", str(other), "--url", "http://gw/")
    assert result.exit_code == 2 and "2 proxies" in result.stderr and result.stderr.count("\n") == 1


def test_offline_why_does_not_import_httpx() -> None:
    code = ("import sys; sys.argv=['stickyctl','why','-f',%r,'--url','http://gw/hello']\n"
            "from stickyctl.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('HEAVY:' + ','.join(m for m in ('httpx','kubernetes') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code % fixture("pass-helloworld-header")], capture_output=True,
                          text=True, timeout=60)
    assert proc.stderr.strip().endswith("HEAVY:"), proc.stderr


# --- pieces --------------------------------------------------------------------------------------


def test_request_building() -> None:
    r = build_request("gw.example.com:8080/a?b=1", ["Host: shop.example.com", "X-A: 1", "x-a:2"], ["s=1", "t=2"])
    assert (r.scheme, r.host, r.port, r.authority, r.path) == ("http", "gw.example.com", 8080, "shop.example.com",
                                                                "/a?b=1")
    assert r.header_values("x-a") == ["1", "2"] and r.cookies() == [("s", "1"), ("t", "2")]
    assert build_request("https://gw/").port == 443
    assert build_request("http://[fd00::1]:81/").authority == "[fd00::1]:81"
    with pytest.raises(RequestError):
        build_request("http:///x")


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("/a[0-9]+", "/a12", True),
    ("/a[0-9]+", "/a12x", False),  # FullMatch
    ("(?i)/ab", "/AB", True),
    (r"\d+", "٣", False),  # RE2's \d is ASCII
    (r"/a\z", "/a", True),
    ("(/[^/]+)+/?", "/a/b/", True),  # nested, but each repetition starts with '/': evaluated
])
def test_re2_subset(pattern: str, value: str, expected: bool) -> None:
    assert mt.re2_full_match(pattern, value) is expected


@pytest.mark.parametrize("pattern", [r"\pL+", r"(?<=a)b", r"(a)\1", r"\Qa.b\E", "[[:digit:]]", r"\x{41}", "(?U)a+",
                                     "(a+)+b", "/x(/.+)*"])
def test_re2_constructs_stickyctl_does_not_mirror(pattern: str) -> None:
    with pytest.raises(mt.CannotEvaluate):
        mt.compile_re2(pattern)


def test_header_matcher_semantics() -> None:
    def h(**kw: Any) -> sc.HeaderMatcher:
        return sc.HeaderMatcher(name="x", **kw)

    assert mt.header_matches(h(), ["v"]) and not mt.header_matches(h(), [])
    assert mt.header_matches(h(present_match=False), []) and not mt.header_matches(h(present_match=False), ["v"])
    assert mt.header_matches(h(present_match=True, invert_match=True), [])
    assert not mt.header_matches(h(exact_match="a", invert_match=True), ["a"])
    assert mt.header_matches(h(exact_match="a,b"), ["a", "b"])  # values joined with ','
    assert mt.header_matches(h(contains_match="b"), ["abc"])
    assert mt.header_matches(h(suffix_match="c"), ["abc"])


def test_envoy_gateway_enables_a_disabled_filter_per_route(run_cli: RunCli, tmp_path: Path) -> None:
    """Envoy Gateway's xDS: the HCM's stateful_session filter is ``disabled: true`` and each route
    with session persistence enables it with its own config (istioctl-style camelCase YAML)."""
    from tests.conftest import need_shared

    shared = need_shared() / "envoy-gateway"
    extra = tmp_path / "cds-eds.json"
    extra.write_text(json.dumps([
        {"name": "regex-route-dest", "connectTimeout": "10s", "type": "EDS"},
        {"clusterName": "regex-route-dest", "endpoints": [{"lbEndpoints": [
            {"endpoint": {"address": {"socketAddress": {"address": "10.0.0.1", "portValue": 8080}}}}]}]},
    ]))
    files = ["-f", str(shared / "out__xds-ir__http-route-session-persistence.listeners.yaml"),
             "-f", str(shared / "out__xds-ir__http-route-session-persistence.routes.yaml"), "-f", str(extra)]
    code, doc = why(run_cli, *files, "--url", "http://www.example.com:10080/v1/a",
                    "--header", f"session-header:{_v('10.0.0.1:8080')}")
    assert code == 0 and doc["verdict"] == "sticks" and doc["session"]["level"] == "route"
    code, doc = why(run_cli, *files, "--url", "http://www.example.com:10080/v1/a")
    assert code == 0 and doc["new_value"] == {"mode": "header", "name": "session-header", "path": None,
                                              "ttl_seconds": None}
