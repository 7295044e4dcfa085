"""Istio's xDS naming conventions."""

from __future__ import annotations

import msgspec


class ClusterName(msgspec.Struct, frozen=True, gc=False):
    """Parsed once per route destination (40k times on a large gateway): a Struct, built in C."""

    direction: str
    port: int | None
    subset: str
    host: str


def parse_cluster_name(name: str) -> ClusterName | None:
    """``outbound|<port>|<subset>|<fqdn>`` (also inbound|…); None for non-Istio names."""
    parts = name.split("|")
    if len(parts) != 4 or parts[0] not in ("outbound", "inbound"):
        return None
    try:
        port = int(parts[1]) if parts[1] else None
    except ValueError:
        port = None
    return ClusterName(parts[0], port, parts[2], parts[3])


def destination_host(cluster: str) -> str:
    """The service host a cluster sends to: the FQDN for Istio names, the cluster name otherwise."""
    parsed = parse_cluster_name(cluster)
    return parsed.host if parsed else cluster
