"""Replicas of one gateway, for the fleet checks (STK05xx).

Replicas are gateway proxies (``router`` node ids) of one namespace whose pod names differ only in
the suffix their controller adds: ``<deployment>-<pod-template-hash>-<5 chars>``,
``<daemonset>-<5 chars>`` or ``<statefulset>-<ordinal>``. The pod name and namespace come from the
node id, so this works the same for a live check, a snapshot and several ``-f`` dumps. A live check of
several clusters (``--context`` twice) keeps each cluster's replicas apart: its targets are named
``<context>:pod/<namespace>/<pod>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from stickyctl.checks.context import CheckContext
from stickyctl.envoy.enums import ProxyKind
from stickyctl.envoy.model import Proxy
from stickyctl.findings import Resource

# Kubernetes' random suffixes use this alphabet (no vowels, no 0/1/3).
_ALNUM = "[bcdfghjklmnpqrstvwxz2456789]"
_REPLICASET = re.compile(rf"^(?P<base>.+)-{_ALNUM}{{6,10}}-{_ALNUM}{{5}}$")
_DAEMONSET = re.compile(rf"^(?P<base>.+)-{_ALNUM}{{5}}$")
_STATEFULSET = re.compile(r"^(?P<base>.+)-\d+$")
_CONTEXT_SOURCE = re.compile(r"^(?P<context>[^/:]+):pod/")


@dataclass(frozen=True)
class Workload:
    kind: str
    namespace: str
    name: str
    context: str | None = None
    """The kube context, when a live check read several clusters."""

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def resource(self) -> Resource:
        return Resource(target=f"context/{self.context}" if self.context else None, object=self.ref)

    @property
    def described(self) -> str:
        return f"{self.ref} (context {self.context})" if self.context else self.ref


def workload_of(proxy: Proxy) -> Workload | None:
    """The controller a gateway pod belongs to, from its pod name (None for a bare or unnamed pod)."""
    if proxy.identity.kind != ProxyKind.ROUTER or not proxy.identity.node_id:
        return None
    pod, _, namespace = proxy.name.rpartition(".")
    if not pod or not namespace:
        return None
    sources = [m.group("context") for m in (_CONTEXT_SOURCE.match(s) for s in proxy.sources) if m]
    context = sources[0] if sources else None
    for kind, pattern in (("Deployment", _REPLICASET), ("DaemonSet", _DAEMONSET), ("StatefulSet", _STATEFULSET)):
        m = pattern.match(pod)
        if m:
            return Workload(kind, namespace, m.group("base"), context)
    return None


def replica_groups(ctx: CheckContext) -> Iterator[tuple[Workload, list[Proxy]]]:
    """Each gateway workload with two or more checked replicas, replicas sorted by name."""
    groups: dict[Workload, list[Proxy]] = {}
    for proxy in ctx.proxies:
        w = workload_of(proxy)
        if w is not None:
            groups.setdefault(w, []).append(proxy)
    for w in sorted(groups, key=lambda w: (w.context or "", w.ref)):
        replicas = sorted(groups[w], key=lambda p: p.name)
        if len(replicas) >= 2:
            yield w, replicas


def short(proxy: Proxy) -> str:
    """The pod name without the namespace (messages name the namespace once)."""
    return proxy.name.rpartition(".")[0] or proxy.name
