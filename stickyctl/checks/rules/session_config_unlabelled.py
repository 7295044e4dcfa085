"""STK0305: a route has session config but leads only to Services given without a session label.

Only Services that are in the given manifests can be known to be unlabelled: a route to a host
absent from --services is listed as not checked, never reported here (a healthy gateway checked
with a partial manifest must not fail).
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionConfigUnlabelled, listed
from stickyctl.checks.context import CheckContext, names_a_service
from stickyctl.findings import Finding

CODE = "STK0305"
SHOWN = 3


def check(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.services_given:
        return  # without labels, the dump's own session config defines what is sticky
    unknown: dict[str, set[str]] = {}
    for fact in ctx.route_facts:
        if fact.sticky or not fact.active_sessions:
            continue
        if not any(names_a_service(d.cluster) for d in fact.destinations):
            continue  # the pod itself (inbound) or passthrough: no Service to label (STK0205 for inbound)
        missing = {d.host for d in fact.destinations if d.not_given}
        if missing:
            unknown.setdefault(fact.proxy.name, set()).update(missing)
            continue
        cfg, state = fact.active_sessions[0]
        hosts = tuple(sorted({d.host for d in fact.destinations}))
        yield Finding.of(SessionConfigUnlabelled(state.mode, state.name, cfg.level, hosts), fact.resource)
    for proxy, unknown_hosts in sorted(unknown.items()):
        ctx.not_checked.append(f"{proxy}: routes with session config lead to {listed(sorted(unknown_hosts), SHOWN)}, "
                               "which --services does not hold: whether they are labelled was not checked (STK0305)")
