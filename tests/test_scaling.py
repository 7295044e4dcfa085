"""No step of `check` is quadratic: work is counted (calls, glob matches) at n and 4n, never timed.

A findings-heavy run (every route wrong, every Service mislabelled, thousands of suppressions) must
cost about what a healthy one does (issue 17): a list scan per finding, or every finding tried
against every suppression, shows here as work growing 16-fold when the input grows 4-fold.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stickyctl.checks import engine
from stickyctl.checks.engine import CheckOptions, Suppression, SuppressionIndex
from stickyctl.findings import Finding, Resource

ADMIN = "type.googleapis.com/envoy.admin.v3."
SESSION = "envoy.filters.http.stateful_session"


# --- Suppressions: the index answers as the plain scan does --------------------------------------

_ID_CHARS = "ab1-_/:.|#é"
_GLOB_CHARS = _ID_CHARS + "*?"


@settings(max_examples=400, deadline=None)
@given(globs=st.lists(st.text(_GLOB_CHARS + "[]!", max_size=10), max_size=6),
       ids=st.lists(st.text(_ID_CHARS, max_size=14), min_size=1, max_size=8),
       code_only=st.booleans())
def test_suppression_index_matches_like_the_scan(globs: list[str], ids: list[str], code_only: bool) -> None:
    sups = [Suppression("STK0302", g or None) for g in globs] + ([Suppression("STK0303")] if code_only else [])
    index = SuppressionIndex(sups)
    for rid in ids:
        for code in ("STK0302", "STK0303"):
            f = Finding(code, "m", Resource(proxy=rid) if rid else Resource())
            assert index.matches(f) == any(s.matches(f) for s in sups), (code, f.resource_id, globs)


def test_suppression_index_on_resource_ids() -> None:
    proxies = ["gw-1.istio-system/route_config:http.8080/virtual_host:svc-12.team-3.example.com:8080/route:#0",
               "gw-1.istio-system/cluster:outbound|5000|v1|helloworld.sample.svc.cluster.local"]
    globs = ["*virtual_host:svc-12.*", "*virtual_host:svc-1*", "*svc-12*", "*/route:#0", "proxy:gw-?.*",
             "*|5000|v1|*", "*|5000||*", "*team-3.example.com:8080/*", "*[!a]luster:*", "*12.team*",
             "proxy:" + proxies[0]]
    for glob in globs:
        index = SuppressionIndex([Suppression("STK0401", glob)])
        for proxy in proxies:
            f = Finding("STK0401", "m", Resource(proxy=proxy))
            assert index.matches(f) == fnmatch.fnmatchcase(f.resource_id, glob), (glob, f.resource_id)


@contextmanager
def _counting(module: Any, name: str) -> Iterator[list[int]]:
    calls = [0]
    real = getattr(module, name)

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return real(*args)

    setattr(module, name, counted)
    try:
        yield calls
    finally:
        setattr(module, name, real)


def _glob_matches(n: int) -> int:
    """Glob matches tried to split ``n`` findings with ``n // 2`` suppressions of several kinds."""
    findings = [Finding("STK0302", "m", Resource(proxy="gw", route_config="http.8080", route=f"svc-{i}",
                                                 virtual_host=f"svc-{i}.team-{i % 97}.example.com:8080"))
                for i in range(n)]
    sups = [Suppression("STK0302", glob) for i in range(0, n, 2) for glob in (
        f"*/virtual_host:svc-{i}.*",  # a whole word
        f"*/virtual_host:svc-{i}",  # the start of a word
        f"*-{i}.example.com:8080/*",  # the end of a word
    )][: n // 2]
    with _counting(engine, "_glob_matches") as calls:
        kept, suppressed = SuppressionIndex(sups).split(findings)
    assert len(kept) + len(suppressed) == n and suppressed
    return calls[0]


def test_suppressions_are_not_matched_finding_by_suppression() -> None:
    small, large = _glob_matches(400), _glob_matches(1600)
    # The scan would try up to 400 x 200 globs, then 1600 x 800 (16x).
    assert 0 < small <= 4 * 400 and large <= 5 * small


@settings(max_examples=500, deadline=None)
@given(glob=st.text("ab/.*", max_size=9), text=st.text("ab/.", max_size=9))
def test_star_globs_match_as_fnmatch_does(glob: str, text: str) -> None:
    assert engine._glob_matches(text, glob) == fnmatch.fnmatchcase(text, glob)


# --- A whole check: calls counted at n and 4n ------------------------------------------------------


def sticky_routes_dump(n: int) -> dict[str, Any]:
    """A gateway with ``n`` header-sticky routes (one virtual host and one cluster each)."""
    vhosts = []
    clusters = []
    per_route = {SESSION: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute",
        "stateful_session": {"session_state": {
            "name": "envoy.http.stateful_session.header",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.header.v3.HeaderBasedSessionState",
                "name": "x-session"}}}}}
    for i in range(n):
        cluster = f"outbound|8080||svc-{i}.team-{i % 97}.svc.cluster.local"
        vhosts.append({"name": f"svc-{i}.team-{i % 97}.example.com:8080", "domains": [f"svc-{i}.example.com"],
                       "routes": [{"name": f"svc-{i}", "match": {"prefix": "/"}, "route": {"cluster": cluster},
                                   "typed_per_filter_config": per_route}]})
        clusters.append({"cluster": {"name": cluster, "common_lb_config": {"override_host_status": {
            "statuses": ["HEALTHY", "DRAINING", "UNKNOWN", "DEGRADED"]}}}})
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                    "HttpConnectionManager",
           "rds": {"route_config_name": "http.8080"},
           "http_filters": [
               {"name": SESSION, "typed_config": {
                   "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession"}},
               {"name": "envoy.filters.http.router", "typed_config": {
                   "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    listener = {"name": "0.0.0.0_8080", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    return {"configs": [
        {"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {
            "id": "router~10.0.0.1~gw-7d9f8b6c5d-x2x4z.istio-system~istio-system.svc.cluster.local"}}},
        {"@type": ADMIN + "ListenersConfigDump",
         "dynamic_listeners": [{"name": "0.0.0.0_8080", "active_state": {"listener": listener}}]},
        {"@type": ADMIN + "ClustersConfigDump", "dynamic_active_clusters": clusters},
        {"@type": ADMIN + "RoutesConfigDump", "dynamic_route_configs": [
            {"route_config": {"name": "http.8080", "virtual_hosts": vhosts}}]},
    ]}


def _services(n: int, header: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": f"svc-{i}", "namespace": f"team-{i % 97}",
                      "labels": {"istio.io/persistent-session-header": header}},
         "spec": {"ports": [{"port": 8080}]}} for i in range(n)]}


def _calls(fn: Callable[[], object]) -> int:
    """Python and C function calls made by ``fn()``: work, counted the same way on every machine."""
    count = [0]

    def profile(_frame: object, event: str, _arg: object) -> None:
        if event in ("call", "c_call"):
            count[0] += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count[0]


def _check_calls(tmp_path: Path, n: int, *, header: str, suppress: bool = False) -> int:
    dump = tmp_path / f"dump-{n}.json"
    svcs = tmp_path / f"svc-{n}-{header}.json"
    dump.write_text(json.dumps(sticky_routes_dump(n)))
    svcs.write_text(json.dumps(_services(n, header)))
    sups = [Suppression("STK0302", f"*/virtual_host:svc-{i}.*") for i in range(0, n, 3)] if suppress else []
    options = CheckOptions(dumps=[str(dump)], services=[str(svcs)], suppress=sups)
    report: list[Any] = []
    calls = _calls(lambda: report.append(engine.check(options)))
    findings = [f for f in report[0].findings if f.code == "STK0302"]
    assert len(findings) + len(report[0].suppressed) == (n if header != "x-session" else 0)
    return calls


def test_check_is_linear_in_routes_and_findings(tmp_path: Path) -> None:
    n = 150
    _check_calls(tmp_path, 10, header="x-other", suppress=True)  # one-time work (decoders, lazy imports) first
    healthy = [_check_calls(tmp_path, k, header="x-session") for k in (n, 4 * n)]
    wrong = [_check_calls(tmp_path, k, header="x-other") for k in (n, 4 * n)]
    suppressed = [_check_calls(tmp_path, k, header="x-other", suppress=True) for k in (n, 4 * n)]
    for small, large in (healthy, wrong, suppressed):
        # Linear: 4x the input is about 4x the calls (start-up is a fixed cost); quadratic is 16x.
        assert large < 4.5 * small, (healthy, wrong, suppressed)


# --- A live fleet: reading each pod costs the same, TLS redaction only where TLS can be -----------

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text("ab<&é", max_size=4),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                         st.sampled_from(["a", "transport_socket", "transportSocketMatches", "inline_string",
                                          "inlineBytes", "name"]), inner, max_size=3), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(doc=_JSON)
def test_answers_that_cannot_hold_tls_are_not_walked(doc: Any) -> None:
    import copy

    import msgspec

    from stickyctl.envoy.admin import may_hold_tls, redact_tls

    data = msgspec.json.encode(doc)
    if not may_hold_tls(data):
        assert redact_tls(copy.deepcopy(doc)) == doc
    # A key spelled with escapes is still seen.
    escaped = data.replace(b'"transport_socket"', b'"transport\\u005fsocket"')
    assert may_hold_tls(escaped) or escaped == data


# --- Findings are built tens of thousands of times: their __init__ is written out -----------------


def test_findings_compare_by_code_message_and_resource() -> None:
    """Resource sets its fields at once instead of through the frozen dataclass's generated __init__
    (findings.py says what it saves): the same parameters, defaults and resulting instances. Finding
    is a plain frozen dataclass: equal and hashed by value, details not compared and never shared."""
    import dataclasses
    import inspect

    params = list(inspect.signature(Resource.__init__).parameters.values())[1:]
    fields = dataclasses.fields(Resource)
    assert [p.name for p in params] == [f.name for f in fields]
    assert all(p.default is None and f.default is None for p, f in zip(params, fields, strict=True))
    r = Resource(proxy="gw", route="r")
    assert list(r.__dict__) == [f.name for f in fields]
    assert r == Resource(None, None, "gw", route="r") and hash(r) == hash(Resource(proxy="gw", route="r"))
    assert dataclasses.replace(r, route="s") == Resource(proxy="gw", route="s")
    finding = Finding("STK0302", "m", r)
    assert finding.details == {} and finding.details is not Finding("STK0302", "m", r).details
    assert finding == Finding("STK0302", "m", r, {"x": "y"})  # details are not compared
    assert dataclasses.replace(finding, message="n").message == "n"
