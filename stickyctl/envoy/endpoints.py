"""Map pinned session addresses to the endpoints (EDS) of recorded config dumps (`decode --resolve`)."""

from __future__ import annotations

import ipaddress
from typing import Any

from stickyctl.envoy.loader import load_file
from stickyctl.envoy.model import build_proxies
from stickyctl.errors import InputError


def _norm(address: str) -> str:
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address


Resolved = dict[tuple[str, int], list[dict[str, Any]]]


def resolve_addresses(paths: list[str], addresses: list[tuple[str, int]]) -> Resolved:
    """Each (address, port) to the endpoints that carry it: proxy, cluster, health and Istio workload.

    Needs dumps taken with ``?include_eds`` (Envoy only lists endpoints then); a dump without them is
    an input error rather than a silent "not found".
    """
    parts = [load_file(p) for p in paths]
    if not any(p.has_endpoints for p in parts):
        raise InputError(", ".join(paths), "has no endpoints: record the dump with config_dump?include_eds")
    wanted = {(_norm(a), port): (a, port) for a, port in addresses}
    found: Resolved = {key: [] for key in addresses}
    for proxy in build_proxies(parts):
        for cluster, endpoints in sorted((proxy.endpoints or {}).items()):
            for ep in endpoints:
                key = wanted.get((_norm(ep.address), ep.port))
                if key is not None:
                    found[key].append({
                        "proxy": proxy.name,
                        "cluster": cluster,
                        "health_status": ep.health_status,
                        "workload": ep.workload_name,
                    })
    return found
