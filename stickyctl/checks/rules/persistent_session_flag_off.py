"""STK0101: labelled Services exist but istiod's persistent-session flag is off (or reads other keys)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource
from stickyctl.istio.manifests import FLAG_ENV

CODE = "STK0101"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for ist in ctx.istiod:
        res = Resource(object=ist.obj.ref)
        if ist.flag_from_ref:
            continue  # valueFrom: reported as not checked by the runner, never as passing
        # Without --services we cannot prove that no Service is labelled: the flag must be on.
        if not ist.flag_on and (ctx.labelled or not ctx.services_given):
            shown = "unset (default false)" if ist.flag is None else f"{ist.flag!r}"
            sticky = (f"{len(ctx.labelled)} labelled Service(s) exist" if ctx.labelled
                      else "sticky sessions are expected")
            yield Finding(CODE, f"istiod revision {ist.revision!r} has {FLAG_ENV} {shown}, but {sticky}: "
                                "istiod configures no sessions", res, {"revision": ist.revision})
        for mode, used, read in (("cookie", ctx.keys.cookie, ist.cookie_key),
                                 ("header", ctx.keys.header, ist.header_key)):
            if used == read:
                continue
            users = [s.id for s in ctx.labelled if s.mode == mode]
            if users:
                yield Finding(CODE, f"istiod revision {ist.revision!r} reads the {mode} label {read!r}, but "
                                    f"{', '.join(users)} use {used!r}", res, {"revision": ist.revision})
