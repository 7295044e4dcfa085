"""`decode --resolve` against the API: which pod a session's pinned IP:port is (or that none is).

Pods are found by ``fieldSelector=status.podIP=<ip>`` (the API server filters; only the pods'
primary IPs are indexed there). A pinned address no pod has is a stale session: Envoy re-balances it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from stickyctl.kube.client import Access, Cluster, connect
from stickyctl.kube.discovery import PodInfo, pods_path

Resolved = dict[tuple[str, int], list[dict[str, Any]]]


def _port_declared(pod: dict[str, Any], port: int) -> bool | None:
    """Whether a container declares ``port`` (None when no container declares any port)."""
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    declared = [p.get("containerPort") for c in spec.get("containers") or [] if isinstance(c, dict)
                for p in c.get("ports") or [] if isinstance(p, dict)]
    if not declared:
        return None
    return port in declared


def _canonical(address: str) -> str:
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address


def lookup(cluster: Cluster, addresses: list[tuple[str, int]], *, namespace: str | None,
           multi: bool) -> Resolved:
    found: Resolved = {key: [] for key in addresses}
    by_ip: dict[str, list[dict[str, Any]]] = {}
    for ip in dict.fromkeys(_canonical(a) for a, _ in addresses):
        by_ip[ip] = cluster.list_all(pods_path(namespace), [("fieldSelector", f"status.podIP={ip}")],
                                 access=Access("list", "pods", namespace))
    for address, port in addresses:
        for pod in by_ip[_canonical(address)]:
            info = PodInfo.of(pod)
            entry: dict[str, Any] = {}
            if multi:
                entry["context"] = cluster.context
            entry.update(namespace=info.namespace, pod=info.name, node=info.node, phase=info.phase,
                         ready=info.ready, terminating=info.terminating, port_declared=_port_declared(pod, port))
            found[(address, port)].append(entry)
    for entries in found.values():
        entries.sort(key=lambda e: (str(e.get("context", "")), e["namespace"], e["pod"]))
    return found


def resolve_pods(addresses: list[tuple[str, int]], *, kubeconfig: str | None, contexts: list[str],
                 namespace: str | None, timeout: float) -> Resolved:
    names: list[str | None] = list(contexts) or [None]
    out: Resolved = {key: [] for key in addresses}
    for name in names:
        cluster = connect(kubeconfig=kubeconfig, context=name, timeout=timeout)
        try:
            for key, entries in lookup(cluster, addresses, namespace=namespace, multi=len(names) > 1).items():
                out[key].extend(entries)
        finally:
            cluster.close()
    return out
