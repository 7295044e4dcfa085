"""Every finding's text: pinned per fixture (golden files), per kind of finding, and cheap to render.

- Each fixture's ``messages.yaml`` (scripts/gen_golden.py) holds the code, resource, message and
  details of every finding ``stickyctl check -o json`` gives on it: a wording change fails here,
  naming the fixture. Every catalog code has at least one message pinned so.
- Each kind of finding (a ``catalog.Message`` class, several for a code whose findings read two
  ways) renders an example exactly: the kinds no fixture shows are pinned too.
- Rules build a message type and pass it to ``Finding.of``; none writes the sentence itself.
- Rendering costs a few calls per finding, without parsing a template or a regular expression: a
  gateway where every route is wrong costs little more than a healthy one (issue 16).
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stickyctl import catalog as c
from stickyctl.catalog import CATALOG, MESSAGES, Message
from stickyctl.envoy.enums import ConfigLevel, SessionMode
from stickyctl.exitcodes import INPUT_CODES
from stickyctl.findings import Finding, Resource
from stickyctl.istio import versions
from stickyctl.istio.labels import LabelValueProblem
from tests.conftest import ROOT, load_script

golden = load_script("gen_golden")
FIXTURE_DIRS = golden.fixture_dirs()
RULES_DIR = ROOT / "stickyctl" / "checks" / "rules"

HEADER = SessionMode.HEADER
COOKIE = SessionMode.COOKIE
HELLO = "outbound|5000||helloworld.helloworld.svc.cluster.local"
LABELLED = c.LabelExpectation("Service", "helloworld/helloworld", HEADER, "x-session-header")


# --- golden files, from the fixtures -----------------------------------------------------------------


def _name(d: Path) -> str:
    return f"{d.parent.name}/{d.name}"


@pytest.mark.parametrize("fixture", FIXTURE_DIRS, ids=[_name(d) for d in FIXTURE_DIRS])
def test_fixture_messages_are_the_golden_ones(fixture: Path, run_cli: Callable[..., Any],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    want = golden.load(fixture)
    assert want is not None, f"{_name(fixture)}: no {golden.GOLDEN}; run python scripts/gen_golden.py"
    args = [str(a) for a in yaml.safe_load((fixture / "expected.yaml").read_text())["args"]]
    monkeypatch.chdir(fixture)
    result = run_cli("check", *args, "-o", "json")
    got = golden.entries(json.loads(result.stdout)["findings"])
    assert got == want, (f"{_name(fixture)}: the findings' text changed; if that is meant, run python "
                         "scripts/gen_golden.py and review the diff of messages.yaml")


def test_golden_files_are_what_the_script_writes() -> None:
    assert golden.problems() == [], "run python scripts/gen_golden.py"


def test_every_code_has_a_golden_message() -> None:
    pinned: dict[str, list[str]] = {}
    for d in FIXTURE_DIRS:
        for entry in golden.load(d) or []:
            pinned.setdefault(entry["code"], []).append(_name(d))
    missing = sorted(set(CATALOG) - set(pinned))
    assert missing == [], f"codes with no message in any fixtures/*/*/messages.yaml: {missing}"
    assert set(pinned) <= set(CATALOG)


# --- every kind of finding, by example ---------------------------------------------------------------

EXAMPLES: list[tuple[Message, str, dict[str, str]]] = [
    (c.TargetUnchecked("missing.json", "no such file"), "missing.json: no such file", {}),
    (c.UnsupportedInput("--services svc.yaml", "not YAML"), "--services svc.yaml: not YAML", {}),
    (c.FlagOff("default", None, 2),
     "istiod revision 'default' has PILOT_ENABLE_PERSISTENT_SESSION_FILTER unset (default false), but 2 labelled "
     "Service(s) exist: istiod configures no sessions", {"revision": "default"}),
    (c.FlagOff("canary", "false", 0),
     "istiod revision 'canary' has PILOT_ENABLE_PERSISTENT_SESSION_FILTER 'false', but sticky sessions are "
     "expected: istiod configures no sessions", {"revision": "canary"}),
    (c.LabelKeyDiffers("default", HEADER, "example.com/session", "istio.io/persistent-session-header",
                       ("a/one", "b/two")),
     "istiod revision 'default' reads the header label 'example.com/session', but a/one, b/two use "
     "'istio.io/persistent-session-header'", {"revision": "default"}),
    (c.InvalidLabelValue("Service", "a/one", "istio.io/persistent-session", "sticky:/api", COOKIE,
                         LabelValueProblem.PATH_FORM),
     "Service a/one: label istio.io/persistent-session: 'sticky:/api' is not a valid Kubernetes label value (the "
     "`name:path` cookie form cannot be written as a label)",
     {"label": "istio.io/persistent-session", "value": "sticky:/api"}),
    (c.InvalidLabelValue("Service", "a/one", "k", "-x", HEADER, LabelValueProblem.LABEL_VALUE),
     "Service a/one: label k: '-x' is not a valid Kubernetes label value", {"label": "k", "value": "-x"}),
    (c.InvalidLabelValue("ServiceEntry", "a/one", "k", "a..b", HEADER, LabelValueProblem.TOKEN),
     "ServiceEntry a/one: label k: 'a..b' is not a valid HTTP header name", {"label": "k", "value": "a..b"}),
    (c.BothLabels("Service", "a/one", "istio.io/persistent-session", "c", "istio.io/persistent-session-header", "h"),
     "Service a/one has both istio.io/persistent-session=c and istio.io/persistent-session-header=h: istiod uses "
     "the cookie, the header is ignored", {}),
    (c.LabelMisplaced("Deployment", "a/one", ("kc", "kh"), (c.MisplacedKey("pod template label", "kh", True),
                                                             c.MisplacedKey("annotation", "sticky-session", False))),
     "Deployment a/one: pod template label kh on a Deployment does nothing (istiod reads Service labels); "
     "annotation sticky-session is not a key istiod reads (it reads kc and kh)", {}),
    (c.LabelledServiceUnrouted("ServiceEntry", "a/one", COOKIE, "sticky"),
     "ServiceEntry a/one is labelled for cookie sessions (sticky) but no route of the checked proxies leads to it",
     {}),
    (c.PolicySessionPersistence("XBackendTrafficPolicy", "a/p"),
     "XBackendTrafficPolicy a/p sets sessionPersistence: Istio does not implement it (1.26+ reports it unsupported "
     "in the policy status), sessions are not sticky", {}),
    (c.RouteSessionPersistence("HTTPRoute", "a/r", (0, 2), (c.IstioParent("Gateway", "gw/g", "istio"),
                                                            c.IstioParent("Service", "a/one"),
                                                            c.IstioParent("status"))),
     "HTTPRoute a/r sets sessionPersistence (rules[0], rules[2]) and is served by Istio through Gateway gw/g (class "
     "istio), Service a/one (a mesh route), an Istio controller (route status): Istio ignores it, sessions are not "
     "sticky", {}),
    (c.SessionBehindWaypoint("Service", "a/one", HEADER, "wp", "a", ""),
     "Service a/one (header sessions) is behind waypoint wp (namespace a's istio.io/use-waypoint): mesh requests go "
     "through the waypoint, which never carries the session filter, so only gateway traffic is sticky",
     {"waypoint": "wp", "ingress_use_waypoint": "", "seen_in_dump": "no"}),
    (c.SessionBehindIngressWaypoint("Service", "a/one", COOKIE, "wp", None, "True"),
     "Service a/one (cookie sessions) is behind waypoint wp (its istio.io/use-waypoint) and has "
     "istio.io/ingress-use-waypoint=true: gateways send its requests to the waypoint, so a session pins a waypoint "
     "replica, not a pod of the Service", {"waypoint": "wp", "ingress_use_waypoint": "True", "seen_in_dump": "no"}),
    (c.SessionBehindIngressWaypoint("Service", "a/one", HEADER, "wp", "a", "true",
                                    "gw sends c to wp-1 (10.0.0.9:15008)"),
     "Service a/one (header sessions) is behind waypoint wp (namespace a's istio.io/use-waypoint) and has "
     "istio.io/ingress-use-waypoint=true: gateways send its requests to the waypoint, so a session pins a waypoint "
     "replica, not a pod of the Service (seen: gw sends c to wp-1 (10.0.0.9:15008))",
     {"waypoint": "wp", "ingress_use_waypoint": "true", "seen_in_dump": "yes"}),
    (c.SessionClusterIsWaypoint("c", "wp-1 (10.0.0.9:15008)", ("10.0.0.9:15008",)),
     "cluster c: its endpoints are a waypoint, wp-1 (10.0.0.9:15008), reached over HBONE (istiod routes a gateway "
     "through a Service's waypoint when it has istio.io/ingress-use-waypoint): the session pins the waypoint pod, "
     "which balances the Service's pods without a session filter", {"waypoints": "10.0.0.9:15008"}),
    (c.SessionFilterMissing(("l1", "l2", "l3", "l4", "l5"), c.LeadsToLabelled(tuple("abcdef"))),
     "no stateful_session filter on listener(s) l1, l2, l3, l4 and 1 more, but its routes lead to labelled a, b, c, "
     "d and 2 more: no session value is issued or honoured; istiod's PILOT_ENABLE_PERSISTENT_SESSION_FILTER is off "
     "for this proxy (or an EnvoyFilter removed the filter)", {"listeners": "l1, l2, l3, l4, l5"}),
    (c.SessionFilterMissing(("l1",), c.RoutesCarrySessions(3)),
     "no stateful_session filter on listener(s) l1, but 3 of its routes carry session config: no session value is "
     "issued or honoured; istiod's PILOT_ENABLE_PERSISTENT_SESSION_FILTER is off for this proxy (or an EnvoyFilter "
     "removed the filter)", {"listeners": "l1"}),
    (c.SessionsNotInIstio(("l1",), c.RoutesNotInInput(2), "1.17.2", (HEADER, COOKIE), "1.18"),
     "no stateful_session filter on listener(s) l1, and Istio 1.17.2 has no persistent sessions for the cookie and "
     "header label (Istio 1.18+): 2 labelled Service(s) are given and these listeners' routes are not in the input, "
     "but this Istio cannot make them sticky; upgrade Istio", {"listeners": "l1"}),
    (c.SessionFilterAfterRouter("0.0.0.0_8080", "#0", True, 2, 1),
     "listener 0.0.0.0_8080 filter chain #0 (in the update Envoy rejected): stateful_session is HTTP filter #2, "
     "after the router (#1)", {}),
    (c.SessionFilterAfterRouter("l", "default", False, 1, 0),
     "listener l filter chain default: stateful_session is HTTP filter #1, after the router (#0)", {}),
    (c.SessionFilterByEcds("l", "#1"),
     "listener l filter chain #1: the stateful_session filter comes by ECDS (config_discovery); its config cannot "
     "be verified", {}),
    (c.ListenerRejected("l", "unknown time", True, "no details"),
     "Envoy rejected the update of listener l at unknown time (the previous version keeps serving): no details",
     {"last_update_attempt": "unknown time", "details": "no details"}),
    (c.SessionFilterOnInbound(("virtualInbound inbound|8080||", "a b", "c d", "e f", "g h")),
     "stateful_session filter on inbound filter chain(s) virtualInbound inbound|8080||, a b, c d, e f and 1 more: an "
     "inbound route reaches only this pod's own application, so nothing is pinned; put session config on the "
     "callers' side (a session label on the Service) instead",
     {"filter_chains": "virtualInbound inbound|8080||, a b, c d, e f, g h"}),
    (c.RouteWithoutSessionConfig(HELLO, LABELLED),
     f"route to {HELLO} has no stateful_session config at any level (labelled Service helloworld/helloworld expects "
     "header 'x-session-header'): every request is re-balanced", {"cluster": HELLO}),
    (c.SessionNameMismatch(HELLO, HEADER, "x-other", ConfigLevel.VIRTUAL_HOST, LABELLED),
     f"route to {HELLO} uses header 'x-other' (set at virtual_host level) but the labelled Service "
     "helloworld/helloworld expects header 'x-session-header'", {"cluster": HELLO, "configured": "x-other"}),
    (c.SessionNameMismatch("outbound|5000||b", HEADER, "x-a", ConfigLevel.ROUTE,
                           c.LabelExpectation("Service", "ns/b", HEADER, "x-b"),
                           c.LabelExpectation("Service", "ns/a", HEADER, "x-a")),
     "route to outbound|5000||b uses header 'x-a': weighted route: istiod gives a route one session config, from "
     "its first labelled destination (ns/a, header 'x-a'), so ns/b's label (header 'x-b') is not used here; give "
     "the Services of the split one session label value", {"cluster": "outbound|5000||b", "configured": "x-a"}),
    (c.SessionModeMismatch(HELLO, COOKIE, "sticky", ConfigLevel.ROUTE, LABELLED),
     f"route to {HELLO} has cookie session config 'sticky' (set at route level) but the labelled Service "
     "helloworld/helloworld expects header 'x-session-header'", {"cluster": HELLO, "configured_mode": "cookie"}),
    (c.SessionModeMismatch("c", COOKIE, "s", ConfigLevel.ROUTE, LABELLED, c.LabelExpectation("Service", "n/a",
                                                                                           COOKIE, "s")),
     "route to c has cookie session config 's': weighted route: istiod gives a route one session config, from its "
     "first labelled destination (n/a, cookie 's'), so helloworld/helloworld's label (header 'x-session-header') "
     "is not used here; give the Services of the split one session label value",
     {"cluster": "c", "configured_mode": "cookie"}),
    (c.SessionFilterDisabled(HELLO, ConfigLevel.LISTENER, LABELLED),
     f"route to {HELLO}: stateful_session is the HCM's filter is disabled and nothing enables it (labelled Service "
     "helloworld/helloworld expects header 'x-session-header')", {"cluster": HELLO, "level": "listener"}),
    (c.SessionFilterDisabled(HELLO, ConfigLevel.ROUTE_CONFIG, LABELLED),
     f"route to {HELLO}: stateful_session is disabled at route_config level (labelled Service helloworld/helloworld "
     "expects header 'x-session-header')", {"cluster": HELLO, "level": "route_config"}),
    (c.SessionConfigUnlabelled(HEADER, "x-s", ConfigLevel.ROUTE, ("a.ns.svc.cluster.local", "b.ns.svc.cluster.local")),
     "route has header session config 'x-s' (at route level) but leads only to unlabelled a.ns.svc.cluster.local, "
     "b.ns.svc.cluster.local", {}),
    (c.WeightedRouteSticky((("outbound|80|v1|a", 90), ("outbound|80|v2|a", 10))),
     "weighted route (outbound|80|v1|a=90, outbound|80|v2|a=10): Envoy picks the cluster first; a session pinned to "
     "a host of another cluster is re-balanced", {}),
    (c.CookiePathNotCoveringRoute("sticky", "/api", "prefix", "/"),
     "cookie 'sticky' has path /api but the route matches prefix /: requests there are re-balanced",
     {"cookie_path": "/api"}),
    (c.CookieTtlZero("sticky", None, "1.28.8"),
     "cookie 'sticky': TTL 0 on Envoy 1.28.8: Envoy 1.27–1.29 treats it as already expired, so cookies never stick",
     {"ttl": "unset"}),
    (c.CookieTtlZero("sticky", 0.0, "1.27.0"),
     "cookie 'sticky': TTL 0 on Envoy 1.27.0: Envoy 1.27–1.29 treats it as already expired, so cookies never stick",
     {"ttl": "0s"}),
    (c.CookieTtlShort("sticky", 120.0, "1.28.8"),
     "cookie 'sticky': TTL 120s on Envoy 1.28.8: sessions end 120s after they start, even for active users",
     {"ttl": "120s"}),
    (c.CookieTtlShort("s", 2.5, None),
     "cookie 's': TTL 2.5s on Envoy >= 1.27 (version unknown): sessions end 2.5s after they start, even for active "
     "users", {"ttl": "2.5s"}),
    (c.CookieExpiryHostClock(2, "Deployment/gw/ingress", ("1.38.3",), ("1.38.3",)),
     "cookie sessions with a TTL on 2 replicas of Deployment/gw/ingress, Envoy 1.38.3: Envoy 1.27–1.38 stamps and "
     "checks the cookie's expiry with the node's uptime clock (envoyproxy/envoy#44111), so a replica on a node up "
     "longer than the issuing one's by more than the TTL judges the cookie expired and moves the session",
     {"envoy": "1.38.3", "replicas": "2"}),
    (c.CookieExpiryHostClock(3, "Deployment/gw/ingress", ("1.38.3", "1.40.0"), ("1.38.3",), mixed=True),
     "cookie sessions with a TTL on 3 replicas of Deployment/gw/ingress, Envoy 1.38.3: Envoy 1.27–1.38 stamps and "
     "checks the cookie's expiry with the node's uptime clock (envoyproxy/envoy#44111), so a replica on a node up "
     "longer than the issuing one's by more than the TTL judges the cookie expired and moves the session; the "
     "replicas on Envoy 1.39+ (Unix time) reject every cookie the older ones issued until all run the same version",
     {"envoy": "1.38.3, 1.40.0", "replicas": "3"}),
    (c.ConsistentHashWithSession(True, (("c1", "RING_HASH"), ("c2", "MAGLEV"))),
     "sticky route also hashes: the route has a hash_policy; cluster c1 uses RING_HASH; cluster c2 uses MAGLEV", {}),
    (c.ConsistentHashWithSession(False, (("c1", "MAGLEV"),)), "sticky route also hashes: cluster c1 uses MAGLEV", {}),
    (c.WeightedRouteLostSessionConfig(("c1",), ("c2", "c3")),
     "weighted route to sticky c1 and unlabelled c2, c3 carries no session config: the labelled destination is not "
     "sticky either", {}),
    (c.SessionNameShared((c.SharedName(COOKIE, "sticky", (("a.ns.svc", ("r1", "r2")), ("b.ns.svc", ("r3",)))),
                          c.SharedName(HEADER, "x-s", (("c.ns.svc", ("#0",)),)))),
     "one session name for several Services under overlapping hosts: cookie 'sticky' by a.ns.svc (route r1, r2), "
     "b.ns.svc (route r3); header 'x-s' by c.ns.svc (route #0): each one's value sends the others' requests to a "
     "host they do not have, so sessions ping-pong between them; give each Service its own name",
     {"shared": "cookie 'sticky' by a.ns.svc (route r1, r2), b.ns.svc (route r3); header 'x-s' by c.ns.svc "
                "(route #0)"}),
    (c.SessionConfigDiffersByRoute("c", ((c.Carrier(None), ("rc/vh/r1",)),
                                         (c.Carrier(HEADER, "x-a"), ("rc/vh/r2", "rc/vh/r3", "rc/vh/r4")),
                                         (c.Carrier(None, disabled=True), ("rc/vh/r5",)),
                                         (c.Carrier(SessionMode.ENVELOPE), ("rc/vh/r6",)))),
     "routes to cluster c carry different session configs: header 'x-a' on rc/vh/r2, rc/vh/r3 and 1 more; envelope "
     "on rc/vh/r6; no session config on rc/vh/r1; the session filter disabled on rc/vh/r5: a session value issued "
     "on one route is not honoured on the others",
     {"no session config": "rc/vh/r1", "header 'x-a'": "rc/vh/r2, rc/vh/r3, rc/vh/r4",
      "the session filter disabled": "rc/vh/r5", "envelope": "rc/vh/r6"}),
    (c.DrainingNotOverridable("c", ("UNKNOWN", "HEALTHY", "DEGRADED"), False, c.ClusterOrigin.OTHER),
     "cluster c: override_host_status is unset (Envoy default [UNKNOWN, HEALTHY, DEGRADED]), without DRAINING: "
     "sessions to terminating pods move during rollouts; add DRAINING to the cluster's override_host_status", {}),
    (c.DrainingNotOverridable("outbound|80|v1|a", ("HEALTHY",), True, c.ClusterOrigin.SUBSET, "v1"),
     "cluster outbound|80|v1|a: override_host_status is [HEALTHY], without DRAINING: sessions to terminating pods "
     "move during rollouts; istiod never sets it on subset clusters (subset v1); route to the Service's default "
     "cluster, or add DRAINING with an EnvoyFilter on this cluster", {}),
    (c.DrainingNotOverridable("outbound|80||a", ("HEALTHY",), True, c.ClusterOrigin.DEFAULT),
     "cluster outbound|80||a: override_host_status is [HEALTHY], without DRAINING: sessions to terminating pods move "
     "during rollouts; istiod sets it on a cookie-labelled Service's default cluster (Istio 1.17.3+): an older "
     "istiod, a stale push, or an EnvoyFilter that replaced it", {}),
    (c.OverrideHostStatusEmpty("c"),
     "cluster c: override_host_status is set with no statuses, so every session value is ignored", {}),
    (c.StickyRouteClusterMissing("a.ns.svc.cluster.local", "outbound|80||a.ns.svc.cluster.local"),
     "route to sticky a.ns.svc.cluster.local names cluster outbound|80||a.ns.svc.cluster.local, which the proxy does "
     "not have", {"cluster": "outbound|80||a.ns.svc.cluster.local"}),
    (c.HeaderSessionDrainingDropped("c", (), None),
     "cluster c (header sessions): this Istio (version unknown; every release through "
     f"{versions.HEADER_DRAINING_DROPPED.last_shown} does it) drops a terminating pod from EDS for the header "
     "label (it keeps draining pods only for the cookie label), so header sessions pinned to it move on every "
     "rollout and scale-down; DRAINING in override_host_status cannot keep a pod Envoy no longer has",
     {"istio_version": "unknown"}),
    (c.ReplicasDisagree(3, "Deployment/ns/gw", tuple((f"s{i}", f"v{i}") for i in range(5))),
     "3 replicas of Deployment/ns/gw disagree on what sessions depend on: s0: v0; s1: v1; s2: v2 (and 2 more "
     "differences, see details)", {f"s{i}": f"v{i}" for i in range(5)}),
    (c.ReplicasDisagree(2, "Deployment/ns/gw (context east)", (("s", "a on p1 but b on p2"), ("t", "u"), ("v", "w"),
                                                               ("x", "y"))),
     "2 replicas of Deployment/ns/gw (context east) disagree on what sessions depend on: s: a on p1 but b on p2; "
     "t: u; v: w (and 1 more difference, see details)", {"s": "a on p1 but b on p2", "t": "u", "v": "w", "x": "y"}),
    (c.StrictSessionMultiReplica(("r1",), "Deployment/ns/gw", 2),
     "strict sessions on route r1 of Deployment/ns/gw, which runs 2 replicas: while they converge after an endpoint "
     "change, a request pinned to a host one replica does not know yet is answered 503 instead of being "
     "re-balanced", {"routes": "r1", "replicas": "2"}),
    (c.StrictSessionMultiReplica(("r1", "r2", "r3", "r4"), "Deployment/ns/gw", 3),
     "strict sessions on routes r1, r2, r3 and 1 more of Deployment/ns/gw, which runs 3 replicas: while they "
     "converge after an endpoint change, a request pinned to a host one replica does not know yet is answered 503 "
     "instead of being re-balanced", {"routes": "r1, r2, r3, r4", "replicas": "3"}),
    (c.SessionExposesBackends(((COOKIE, "sticky"), (HEADER, "x-s"))),
     "sessions (cookie sticky, header x-s) carry base64 pod IP:port values clients can read and forge", {}),
]


@pytest.mark.parametrize(("message", "text", "details"), EXAMPLES,
                         ids=[f"{type(m).__name__}-{i}" for i, (m, _t, _d) in enumerate(EXAMPLES)])
def test_message_kind_reads_as_pinned(message: Message, text: str, details: dict[str, str]) -> None:
    finding = Finding.of(message, Resource(proxy="gw"))
    assert (finding.code, finding.message, finding.details) == (message.code, text, details)
    assert message.code in CATALOG
    # Details are plain strings (a StrEnum member would make the YAML report fail).
    assert all(type(k) is str and type(v) is str for k, v in finding.details.items())


def test_every_message_kind_has_an_example() -> None:
    kinds = {cls for by_name in MESSAGES.values() for cls in by_name.values()}
    shown = {type(m) for m, _t, _d in EXAMPLES}
    assert sorted(k.__name__ for k in kinds - shown) == []
    assert set(MESSAGES) == set(CATALOG), "every code has at least one kind of finding, and no kind an unknown code"


def test_message_types_are_frozen_records() -> None:
    a = c.Carrier(HEADER, "x-s")
    assert a == c.Carrier(HEADER, "x-s") and hash(a) == hash(c.Carrier(HEADER, "x-s"))
    assert a != c.Carrier(HEADER, "x-t") and a != c.Carrier(None, "x-s")
    assert c.Carrier(None) == c.Carrier(None, "", False)  # defaults
    assert repr(a) == "Carrier(mode=<SessionMode.HEADER: 'header'>, name='x-s', disabled=False)"
    with pytest.raises(AttributeError):
        a.name = "other"  # type: ignore[misc]
    m = c.SessionNameMismatch("c", HEADER, "x", ConfigLevel.ROUTE, LABELLED)
    assert m.picked is None and m.values() == {"cluster": "c", "mode": HEADER, "configured": "x",
                                               "level": ConfigLevel.ROUTE, "expects": LABELLED, "picked": None}
    with pytest.raises(TypeError):
        c.SessionNameMismatch("c", HEADER)  # type: ignore[call-arg]


def test_a_message_kind_is_registered_once_under_its_code() -> None:
    for code, by_name in MESSAGES.items():
        assert all(cls.code == code for cls in by_name.values())
        assert CATALOG[code].messages == tuple(by_name.values())


# --- rules pass arguments, not text -------------------------------------------------------------------


def test_rules_build_findings_from_message_types() -> None:
    """A rule's finding is ``Finding.of(<Message>(…), resource)``: never ``Finding(code, text, …)``."""
    offenders = []
    for path in sorted(RULES_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Finding":
                offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "of" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "Finding" \
                    and node.args and isinstance(node.args[0], (ast.JoinedStr, ast.Constant, ast.BinOp)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


# --- rendering stays cheap ----------------------------------------------------------------------------


def _calls(fn: Callable[[], object]) -> tuple[int, list[str]]:
    """Calls ``fn()`` makes (Python and C), and the modules of the Python functions among them."""
    count = [0]
    modules: list[str] = []

    def profile(frame: Any, event: str, _arg: object) -> None:
        if event in ("call", "c_call"):
            count[0] += 1
        if event == "call":
            modules.append(frame.f_globals.get("__name__", ""))

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count[0], modules


def test_rendering_a_finding_is_a_few_calls_and_no_parsing() -> None:
    """Each finding's text is one ``str.format`` of its template: no template parsing of our own, no
    regular expression, no ``string.Formatter``; the calls per finding do not grow with the findings."""
    def render(n: int) -> Callable[[], object]:
        def run() -> object:
            return [Finding.of(c.SessionNameMismatch(f"outbound|80||svc-{i}", HEADER, "x-other", ConfigLevel.ROUTE,
                                                     c.LabelExpectation("Service", f"ns/svc-{i}", HEADER, "x-s")),
                               Resource(proxy="gw", route=f"r{i}")) for i in range(n)]
        return run

    render(1)()  # one-time work (field names per message type) first
    small, modules = _calls(render(100))
    large, _ = _calls(render(400))
    per_finding = (large - small) / 300
    assert per_finding <= 20, per_finding
    assert not {m for m in modules if m in ("re", "string") or m.startswith(("re.", "sre_"))}, set(modules)


def _cookie_gateway(n: int) -> dict[str, Any]:
    """A gateway with ``n`` cookie-sticky routes (one virtual host, route and cluster each)."""
    session = {"@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute",
               "stateful_session": {"session_state": {
                   "name": "envoy.http.stateful_session.cookie",
                   "typed_config": {"@type": "type.googleapis.com/envoy.extensions.http.stateful_session.cookie.v3."
                                             "CookieBasedSessionState", "cookie": {"name": "sticky", "path": "/"}}}}}
    admin = "type.googleapis.com/envoy.admin.v3."
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                    "HttpConnectionManager",
           "rds": {"route_config_name": "http.8080"},
           "http_filters": [{"name": "envoy.filters.http.stateful_session", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession"}},
               {"name": "envoy.filters.http.router", "typed_config": {
                   "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    clusters = [f"outbound|8080||svc-{i}.team-{i % 7}.svc.cluster.local" for i in range(n)]
    return {"configs": [
        {"@type": admin + "BootstrapConfigDump", "bootstrap": {"node": {
            "id": "router~10.0.0.1~gw-7d9f8b6c5d-x2x4z.istio-system~istio-system.svc.cluster.local"}}},
        {"@type": admin + "ListenersConfigDump", "dynamic_listeners": [{"name": "0.0.0.0_8080", "active_state": {
            "listener": {"name": "0.0.0.0_8080", "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]}}}]},
        {"@type": admin + "ClustersConfigDump", "dynamic_active_clusters": [
            {"cluster": {"name": name, "common_lb_config": {"override_host_status": {
                "statuses": ["HEALTHY", "DRAINING", "UNKNOWN", "DEGRADED"]}}}} for name in clusters]},
        {"@type": admin + "RoutesConfigDump", "dynamic_route_configs": [{"route_config": {
            "name": "http.8080", "virtual_hosts": [
                {"name": f"svc-{i}.example.com:8080", "domains": [f"svc-{i}.example.com"], "routes": [
                    {"name": f"svc-{i}", "match": {"prefix": "/"}, "route": {"cluster": cluster},
                     "typed_per_filter_config": {"envoy.filters.http.stateful_session": session}}]}
                for i, cluster in enumerate(clusters)]}}]},
    ]}


def _services(n: int, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": f"svc-{i}", "namespace": f"team-{i % 7}", "labels": {"istio.io/persistent-session": value}},
         "spec": {"ports": [{"port": 8080}]}} for i in range(n)]}


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_a_gateway_with_every_route_wrong_costs_about_a_healthy_one(tmp_path: Path, fmt: str) -> None:
    """issue 16: "a gateway with 25k findings costs at most 1.5x a healthy one" (benchmarks/run.py's
    findings-heavy rows), counted in calls, never timed: a check and its report, with every route's
    cookie name renamed (one STK0302 a route) against the same gateway healthy."""
    from stickyctl.checks.engine import CheckOptions, check
    from stickyctl.report.machine import to_json_utf8
    from stickyctl.report.sarif import to_sarif_utf8

    n = 400
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(_cookie_gateway(n)))
    for value in ("sticky", "other"):
        (tmp_path / f"{value}.json").write_text(json.dumps(_services(n, value)))

    def run(value: str) -> Callable[[], object]:
        def go() -> object:
            report = check(CheckOptions(dumps=[str(dump)], services=[str(tmp_path / f"{value}.json")]))
            return to_json_utf8(report.encodable_document()) if fmt == "json" else to_sarif_utf8(report)
        return go

    run("other")()  # one-time work (decoders, lazy imports) first
    healthy, _ = _calls(run("sticky"))
    wrong, _ = _calls(run("other"))
    report = check(CheckOptions(dumps=[str(dump)], services=[str(tmp_path / "other.json")]))
    assert sum(f.code == "STK0302" for f in report.findings) == n
    assert wrong <= 1.5 * healthy, (wrong, healthy, wrong / healthy)


# --- the docs pages' examples are what `check` prints -------------------------------------------------

gen_docs = load_script("gen_docs")
EXAMPLE_CODES = sorted(gen_docs.examples())


def test_every_code_has_a_docs_example() -> None:
    assert sorted(CATALOG) == EXAMPLE_CODES


@pytest.mark.parametrize("code", EXAMPLE_CODES)
def test_docs_example_is_what_check_prints(code: str, run_cli: Callable[..., Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    example = gen_docs.examples()[code]
    block = gen_docs.example_block(example).splitlines()
    if block[0].startswith("proxy "):
        # The report's heading for the proxy is its name, then (on the next line at 80 columns) its
        # kind and versions, which the example leaves out.
        heading, block = block[0], block[2:]
    else:
        heading = None
    monkeypatch.chdir(example.fixture)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", str(gen_docs.EXAMPLE_WIDTH))
    result = run_cli("check", *example.args)
    # An input that could not be read is one line on stderr; the findings are blocks on stdout.
    printed = [line.rstrip() for line in (result.stderr if code in INPUT_CODES else result.stdout).splitlines()]
    if heading is not None:
        assert heading in printed
    starts = [i for i, line in enumerate(printed) if line == block[0]]
    assert any(printed[i:i + len(block)] == block for i in starts), "\n".join(printed)
