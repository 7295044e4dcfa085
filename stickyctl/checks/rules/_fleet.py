"""Replicas of one gateway, for the fleet checks (STK05xx).

Replicas are gateway proxies (``router`` node ids) of one namespace whose pod names differ only in
the suffix their controller adds: ``<deployment>-<pod-template-hash>-<5 chars>``,
``<daemonset>-<5 chars>`` or ``<statefulset>-<ordinal>``. The pod name and namespace come from the
node id, so this works the same for a live check, a snapshot and several ``-f`` dumps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from stickyctl.checks.context import CheckContext
from stickyctl.envoy.model import Proxy

# Kubernetes' random suffixes use this alphabet (no vowels, no 0/1/3).
_ALNUM = "[bcdfghjklmnpqrstvwxz2456789]"
_REPLICASET = re.compile(rf"^(?P<base>.+)-{_ALNUM}{{6,10}}-{_ALNUM}{{5}}$")
_DAEMONSET = re.compile(rf"^(?P<base>.+)-{_ALNUM}{{5}}$")
_STATEFULSET = re.compile(r"^(?P<base>.+)-\d+$")


@dataclass(frozen=True)
class Workload:
    kind: str
    namespace: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def workload_of(proxy: Proxy) -> Workload | None:
    """The controller a gateway pod belongs to, from its pod name (None for a bare or unnamed pod)."""
    if proxy.identity.kind != "router" or not proxy.identity.node_id:
        return None
    pod, _, namespace = proxy.name.rpartition(".")
    if not pod or not namespace:
        return None
    for kind, pattern in (("Deployment", _REPLICASET), ("DaemonSet", _DAEMONSET), ("StatefulSet", _STATEFULSET)):
        m = pattern.match(pod)
        if m:
            return Workload(kind, namespace, m.group("base"))
    return None


def replica_groups(ctx: CheckContext) -> Iterator[tuple[Workload, list[Proxy]]]:
    """Each gateway workload with two or more checked replicas, replicas sorted by name."""
    groups: dict[Workload, list[Proxy]] = {}
    for proxy in ctx.proxies:
        w = workload_of(proxy)
        if w is not None:
            groups.setdefault(w, []).append(proxy)
    for w in sorted(groups, key=lambda w: w.ref):
        replicas = sorted(groups[w], key=lambda p: p.name)
        if len(replicas) >= 2:
            yield w, replicas


def short(proxy: Proxy) -> str:
    """The pod name without the namespace (messages name the namespace once)."""
    return proxy.name.rpartition(".")[0] or proxy.name
