"""Unit tests of the Envoy/Istio semantics the rules encode (the fixtures test them end to end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stickyctl.checks.rules.cookie_path_not_covering_route import not_covered
from stickyctl.checks.rules.cookie_ttl_pitfall import ttl_problem
from stickyctl.envoy.cookie_path import cookie_path_matches
from stickyctl.envoy.enums import ProxyKind
from stickyctl.envoy.model import RouteMatcher
from stickyctl.istio.labels import LabelKeys
from stickyctl.istio.manifests import (
    ServiceIndex,
    istiod_settings,
    label_value_problem,
    load_manifests,
    session_label,
)
from stickyctl.istio.names import destination_host, parse_cluster_name


@pytest.mark.parametrize(
    ("cookie", "path", "ok"),
    [
        ("", "/anything", True),
        ("/", "/x", True),
        ("/foo/", "/foo/bar", True),
        ("/foo/", "/foo", False),  # Envoy's own example in cookie.cc
        ("/foo", "/foo", True),
        ("/foo", "/foo/bar", True),
        ("/foo", "/foo?x=1", True),
        ("/foo", "/foobar", False),
        ("/foo", "/bar", False),
    ],
)
def test_cookie_path_matches_like_envoy(cookie: str, path: str, ok: bool) -> None:
    assert cookie_path_matches(cookie, path) is ok


@pytest.mark.parametrize(
    ("cookie", "match", "missed"),
    [
        ("/", RouteMatcher(prefix="/"), False),
        ("/api", RouteMatcher(prefix="/api"), False),
        ("/api", RouteMatcher(prefix="/api/v1"), False),
        ("/api", RouteMatcher(prefix="/hello"), True),
        ("/api/", RouteMatcher(prefix="/api"), True),
        ("/v2/", RouteMatcher(path_separated_prefix="/v2"), True),
        ("/hello", RouteMatcher(path="/hello"), False),
        ("/api", RouteMatcher(path="/hello"), True),
        ("/api", RouteMatcher(safe_regex="/hello/.*"), True),
        ("/v1", RouteMatcher(safe_regex="/v1/.*"), False),
        ("/api", RouteMatcher(safe_regex="/(a|b)"), False),  # undecidable: never guessed
    ],
)
def test_cookie_path_coverage(cookie: str, match: RouteMatcher, missed: bool) -> None:
    assert (not_covered(cookie, match) is not None) is missed


@pytest.mark.parametrize(
    ("ttl", "envoy", "problem"),
    [
        (None, "1.28.8", True),
        (0.0, "1.29.0", True),
        (None, "1.30.0", False),
        (None, "1.26.4", False),
        (120.0, "1.40.0", True),
        (120.0, None, True),
        (120.0, "1.26.0", False),
        (3600.0, "1.40.0", False),
    ],
)
def test_ttl_pitfalls(ttl: float | None, envoy: str | None, problem: bool) -> None:
    assert (ttl_problem(ttl, envoy) is not None) is problem


@pytest.mark.parametrize(
    ("value", "mode", "bad"),
    [
        ("x-session-header", "header", False),
        ("sticky", "cookie", False),
        ("cart:/api", "cookie", True),
        ("a b", "header", True),
        ("-x", "header", True),
        ("x" * 64, "header", True),
    ],
)
def test_label_values(value: str, mode: str, bad: bool) -> None:
    assert (label_value_problem(value, mode) is not None) is bad


def test_cluster_names() -> None:
    c = parse_cluster_name("outbound|5000|v1|helloworld.helloworld.svc.cluster.local")
    assert c is not None and c.port == 5000 and c.subset == "v1"
    assert destination_host("outbound|80||a.b.svc.cluster.local") == "a.b.svc.cluster.local"
    assert parse_cluster_name("BlackHoleCluster") is None
    assert destination_host("regex-route-dest") == "regex-route-dest"


def test_manifests_list_multidoc_and_labels(tmp_path: Path) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: Service\n  metadata: {name: a, namespace: n1, labels: "
        "{istio.io/persistent-session: c1, istio.io/persistent-session-header: h1}}\n"
        "---\n"
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: n2, labels: "
        "{istio.io/persistent-session-header: h2}}\nspec: {hosts: [api.example.com]}\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: 'off', labels: {istio.io/persistent-session-header: ''}}\n"
    )
    objs = load_manifests(str(p))
    assert [o.ref for o in objs] == ["Service/n1/a", "ServiceEntry/n2/ext", "Service/default/off"]
    labelled = [s for s in (session_label(o, LabelKeys()) for o in objs) if s]
    assert [(s.id, s.mode, s.name) for s in labelled] == [("n1/a", "cookie", "c1"), ("n2/ext", "header", "h2")]
    index = ServiceIndex(labelled)
    assert index.lookup("a.n1.svc.cluster.local") is labelled[0]
    assert index.lookup("a.n1.svc.corp.example") is labelled[0]
    assert index.lookup("api.example.com") is labelled[1]
    assert index.lookup("off.default.svc.cluster.local") is None


def test_istiod_env(tmp_path: Path) -> None:
    p = tmp_path / "istiod.yaml"
    p.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: istiod-canary, namespace: istio-system, "
        "labels: {istio.io/rev: canary}}\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - name: discovery\n        env:\n"
        "        - {name: PILOT_ENABLE_PERSISTENT_SESSION_FILTER, value: 'True'}\n"
        "        - {name: PILOT_PERSISTENT_SESSION_HEADER_LABEL, value: example.com/sticky}\n"
    )
    (obj,) = load_manifests(str(p))
    s = istiod_settings(obj)
    assert s is not None and s.flag_on and s.revision == "canary" and s.header_key == "example.com/sticky"


@pytest.mark.parametrize(
    ("cluster", "kinds", "can_drain"),
    [
        ("outbound|5000||helloworld.helloworld.svc.cluster.local", set(), True),
        ("outbound|5000|v1|helloworld.helloworld.svc.corp.example", set(), True),  # another mesh domain
        ("outbound|8443||payments.example.com", set(), False),  # a ServiceEntry's host, from the dump alone
        ("outbound|8443||payments.example.com", {"ServiceEntry"}, False),
        ("outbound|5000||helloworld.helloworld.svc.cluster.local", {"ServiceEntry"}, False),  # the labels decide
        ("outbound|5000||helloworld.helloworld.svc.cluster.local", {"Service"}, True),
        ("backend-1", set(), True),  # another control plane's cluster: not judged
    ],
)
def test_only_a_kubernetes_service_has_endpoints_that_drain(cluster: str, kinds: set[str], can_drain: bool) -> None:
    """STK0401/STK0404 scope: istiod marks Draining from EndpointSlices only (rules/_draining.py)."""
    from stickyctl.checks.rules._draining import StickyCluster
    from stickyctl.envoy.model import Proxy, ProxyIdentity

    proxy = Proxy(ProxyIdentity("gw", None, ProxyKind.ROUTER, None, None), ())
    assert StickyCluster(proxy, cluster, kinds=kinds).endpoints_can_drain is can_drain
