"""STK0501: replicas of one gateway disagree on what sessions depend on.

Compared per replica: the set of (active and warming) listeners, the session filter's presence and
position in each HTTP connection manager, the effective session config of each route (istiod's
dynamic route configurations), and each dynamic cluster's override_host_status. Never compared:
version_info, timestamps, endpoints, addresses, and Istio's static bootstrap listeners and
clusters (they name each pod's own address).
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import ReplicasDisagree, listed
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._fleet import replica_groups, short
from stickyctl.envoy.enums import ListenerState, SessionMode
from stickyctl.envoy.model import Cluster, HttpConnectionManager, Listener, Proxy, SessionConfig
from stickyctl.findings import Finding

CODE = "STK0501"
SHOWN_PODS = 3


def _filter(hcm: HttpConnectionManager) -> str:
    i = hcm.session_filter_index()
    if i is None:
        return "absent"
    f = hcm.filters[i]
    router = hcm.router_index()
    where = "before the router" if router is None or i < router else "after the router"
    text = f"filter {i + 1} of {len(hcm.filters)}, {where}"
    if f.disabled:
        text += ", disabled"
    if f.by_ecds:
        text += ", by ECDS"
    return text


def session_text(cfg: SessionConfig | None) -> str:
    if cfg is None:
        return "none"
    if cfg.disabled:
        return "disabled"
    if cfg.state is None:
        return "no session state"
    s = cfg.state
    text = f"{s.mode} {s.name!r}" if s.name else s.mode
    if s.mode == SessionMode.COOKIE:
        text += f" path {s.cookie_path or '/'}"
        if s.ttl_seconds is not None:
            text += f" ttl {s.ttl_seconds:g}s"
    if cfg.strict:
        text += " strict"
    return text


def _statuses(cluster: Cluster) -> str:
    if cluster.override_statuses is None:
        return "unset"
    return "[" + ", ".join(cluster.override_statuses) + "]" if cluster.override_statuses else "[] (empty)"


def _listeners(ctx: CheckContext, proxy: Proxy) -> dict[str, Listener]:
    out: dict[str, Listener] = {}
    for lst in ctx.checked_listeners(proxy):
        if lst.name not in out or lst.state == ListenerState.ACTIVE:
            out[lst.name] = lst
    return out


def facets(ctx: CheckContext, proxy: Proxy) -> dict[str, str]:
    """What sessions depend on in one proxy, as subject -> comparable text."""
    out: dict[str, str] = {}
    listeners = _listeners(ctx, proxy)
    out["listeners"] = ", ".join(sorted(listeners)) or "none"
    for name in sorted(listeners):
        for ch in listeners[name].chains:
            if ch.hcm is not None and not ch.inbound:
                out[f"listener {name} filter chain {ch.id}: session filter"] = _filter(ch.hcm)
    for fact in ctx.facts_of(proxy):
        if fact.route_config.static:
            continue
        subject = f"route {fact.route_config.name}/{fact.virtual_host.name}/{fact.route.id}: session config"
        if len(fact.destinations) == 1:
            out[subject] = session_text(fact.destinations[0].effective)
        else:
            out[subject] = "; ".join(f"{d.cluster} {session_text(d.effective)}" for d in fact.destinations) or "none"
    for name, cluster in sorted((proxy.clusters or {}).items()):
        if not cluster.static:
            out[f"cluster {name}: override_host_status"] = _statuses(cluster)
    return out




def check(ctx: CheckContext) -> Iterator[Finding]:
    for workload, replicas in replica_groups(ctx):
        per = [(short(p), facets(ctx, p)) for p in replicas]
        subjects: dict[str, None] = {}
        for _name, f in per:
            subjects.update(dict.fromkeys(f))
        listeners_differ = len({f["listeners"] for _n, f in per}) > 1
        differences: dict[str, str] = {}
        for subject in subjects:
            values: dict[str, list[str]] = {}
            for name, f in per:
                values.setdefault(f.get(subject, "absent"), []).append(name)
            if len(values) < 2:
                continue
            if listeners_differ and subject.startswith("listener ") and "absent" in values:
                continue  # already said by the listener set
            order = {name: i for i, (name, _f) in enumerate(per)}
            ranked = sorted(values.items(), key=lambda kv: (-len(kv[1]), order[kv[1][0]]))
            differences[subject] = " but ".join(f"{value} on {listed(names, SHOWN_PODS)}" for value, names in ranked)
        if differences:
            message = ReplicasDisagree(len(replicas), workload.described, tuple(differences.items()))
            yield Finding.of(message, workload.resource)
