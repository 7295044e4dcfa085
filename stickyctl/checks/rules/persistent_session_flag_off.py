"""STK0101: labelled Services exist but istiod's persistent-session flag is off (or reads other keys)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import FlagOff, LabelKeyDiffers
from stickyctl.checks.context import CheckContext
from stickyctl.envoy.enums import SessionMode
from stickyctl.findings import Finding, Resource

CODE = "STK0101"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for ist in ctx.istiod:
        res = Resource(object=ist.obj.ref)
        if ist.flag_from_ref:
            continue  # valueFrom: reported as not checked by the runner, never as passing
        # Without --services we cannot prove that no Service is labelled: the flag must be on.
        if not ist.flag_on and (ctx.labelled or not ctx.services_given):
            yield Finding.of(FlagOff(ist.revision, ist.flag, len(ctx.labelled)), res)
        for mode, used, read in ((SessionMode.COOKIE, ctx.keys.cookie, ist.cookie_key),
                                 (SessionMode.HEADER, ctx.keys.header, ist.header_key)):
            if used == read:
                continue
            users = tuple(s.id for s in ctx.labelled if s.mode == mode)
            if users:
                yield Finding.of(LabelKeyDiffers(ist.revision, mode, read, used, users), res)
