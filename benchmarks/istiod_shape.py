"""Large gateways in istiod's own output shape, for the benchmarks (benchmarks/gen_dump.py).

What istiod generates is recorded from istiod's code (scripts/record_istiod.py) for the scenario
``three-hosts`` of fixtures/istiod: one gateway, three hosts, a header-labelled, a cookie-labelled
and a plain Service. Its per-Service resources — the virtual host with its route, the cluster
(auto-mTLS transport socket matches, circuit breakers, Istio metadata), the load assignment with
Istio's endpoint metadata — are the unit repeated here N times, with only the names and addresses
changed, so the benchmark dumps have exactly istiod's shape at any size.

Two changes let one Envoy load 40,000 of them from files (stickyctl.lab.envoy), both to how
resources are delivered, not to what they say: the listener's RDS and the route configuration
come from files instead of ADS, and clusters carry their endpoints inline (``STATIC`` with a
``load_assignment``) instead of one EDS subscription each (40,000 watched files exceed inotify
limits; the file source takes one ClusterLoadAssignment per file). The listener binds the lab's
address. istiod's clusters fetch their mTLS secrets from the bootstrap cluster ``sds-grpc`` (with
``initial_fetch_timeout: 0s``: without an answer they would warm forever), so the Envoy is given
the istiod harness's throwaway SDS server (``istiod-harness -sds-only``).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stickyctl.lab import xds

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "fixtures" / "istiod" / "three-hosts"
JSON = dict[str, Any]
MODES = ("header", "cookie", "plain")
"""svc-0, svc-1, svc-2 of the template: the mode of Service i is MODES[i % 3]."""


def _load(kind: str) -> list[JSON]:
    data: list[JSON] = json.loads((TEMPLATE / "recorded" / "xds" / f"{kind}.json").read_text())
    return data


def _clone(template: JSON, k: int, i: int) -> JSON:
    """Template resource of svc-<k> (namespace team-0) as Service svc-<i> in namespace team-<i % 97>."""
    ns = f"team-{i % 97}"
    text = json.dumps(template)
    text = re.sub(rf"\bsvc-{k}\b", f"svc-{i}", text)
    text = re.sub(r"\bteam-0\b", ns, text)
    out: JSON = json.loads(text)
    return out


def _address(i: int, k: int) -> str:
    return f"10.{(i >> 8) & 255}.{i & 255}.{k + 1}"


def build_snapshot(n: int, ports: xds.LabPorts, layout: xds.XdsLayout, *, endpoints: bool = True) -> xds.XdsSnapshot:
    """N Services in istiod's shape behind one gateway listener and one route configuration."""
    listeners, routes, clusters, loads = _load("listeners"), _load("routes"), _load("clusters"), _load("endpoints")
    (listener,) = listeners
    (route_config,) = routes
    by_service = {vh["routes"][0]["route"]["cluster"]: vh for vh in route_config["virtual_hosts"]}
    per_cluster = {c["name"]: c for c in clusters}
    per_load = {cla["cluster_name"]: cla for cla in loads}
    units = []
    for k in range(len(MODES)):
        name = f"outbound|8080||svc-{k}.team-0.svc.cluster.local"
        units.append((by_service[name], per_cluster[name], per_load[name]))
    vhosts: list[JSON] = []
    out_clusters: list[JSON] = [c for c in clusters if "svc-" not in c["name"]]
    for c in out_clusters:
        _inline(c, per_load.get(c["name"]), endpoints)
    for i in range(n):
        k = i % len(MODES)
        vhost_t, cluster_t, load_t = units[k]
        vhosts.append(_clone(vhost_t, k, i))
        cluster = _clone(cluster_t, k, i)
        load = _clone(load_t, k, i)
        for group in load.get("endpoints", []):
            for j, lb in enumerate(group.get("lb_endpoints", [])):
                lb["endpoint"]["address"]["socket_address"]["address"] = _address(i, j)
        _inline(cluster, load, endpoints)
        out_clusters.append(cluster)
    rc = {"@type": xds.ROUTE_CONFIGURATION_TYPE, **route_config, "virtual_hosts": vhosts}
    return xds.XdsSnapshot(
        listeners=(_from_files(listener, ports, layout),),
        route_configs=(rc,),
        clusters=tuple({**c, "@type": xds.CLUSTER_TYPE} if "@type" not in c else c for c in out_clusters),
    )


def _inline(cluster: JSON, load: JSON | None, endpoints: bool) -> None:
    """EDS -> STATIC with the load assignment inline (see the module docstring)."""
    if cluster.get("type") != "EDS":
        return
    cluster["type"] = "STATIC"
    cluster.pop("eds_cluster_config", None)
    assignment = dict(load) if load is not None and endpoints else {"cluster_name": cluster["name"]}
    assignment.pop("@type", None)
    cluster["load_assignment"] = assignment


def _from_files(listener: JSON, ports: xds.LabPorts, layout: xds.XdsLayout) -> JSON:
    out: JSON = json.loads(json.dumps(listener))
    out["address"] = {"socket_address": {"address": ports.address, "port_value": ports.gateway}}
    for chain in out.get("filter_chains", []):
        for f in chain.get("filters", []):
            rds = f.get("typed_config", {}).get("rds")
            if rds:
                rds["config_source"] = layout.config_source("rds", rds["route_config_name"])
    out.setdefault("@type", xds.LISTENER_TYPE)
    return out


def services(n: int, *, renamed: bool = False) -> JSON:
    """The Services behind the gateway (``kubectl get svc -A -o json``), labelled as the template's;
    ``renamed``: each sticky one's label value changed, so that no route's session name agrees."""
    import yaml

    objs = [o for o in yaml.safe_load_all((TEMPLATE / "cluster.yaml").read_text()) if o and o["kind"] == "Service"]
    units = {o["metadata"]["name"]: o for o in objs if o["metadata"]["name"].startswith("svc-")}
    items = []
    for i in range(n):
        k = i % len(MODES)
        svc = _clone(units[f"svc-{k}"], k, i)
        if renamed:
            labels = svc["metadata"].get("labels", {})
            for key in list(labels):
                if "persistent-session" in key:
                    labels[key] += "-renamed"
        items.append(svc)
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


@contextlib.contextmanager
def sds_server() -> Iterator[str]:
    """The istiod harness's throwaway SDS server (Go: scripts/record_istiod.py --build); its address."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import record_istiod

    binary = record_istiod.build_harness()
    proc = subprocess.Popen([str(binary), "-sds-only", "-sds", "127.0.0.1:0"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        event = json.loads(proc.stdout.readline())
        yield str(event["sds"])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=10)


def with_sds(boot: JSON, sds: str) -> JSON:
    """The bootstrap with pilot-agent's ``sds-grpc`` cluster, pointing at ``sds``."""
    host, _, port = sds.rpartition(":")
    cluster = {
        "name": "sds-grpc",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "sds-grpc", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": host, "port_value": int(port)}}}}]}]},
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
    }  # fmt: skip
    boot["static_resources"]["clusters"].append(cluster)
    return boot


SECRETS_SECTION = b'"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump"'


def without_secrets(dump: bytes) -> bytes:
    """The admin dump without its SecretsConfigDump (the throwaway SDS server's certificate): no
    secret is ever written, even a throwaway one. Cut at the bytes, since a 40k dump is 250 MB+."""
    at = dump.find(SECRETS_SECTION)
    if at < 0:
        return dump
    start = dump.rfind(b"{", 0, at)
    _, length = json.JSONDecoder().raw_decode(dump[start:].decode())
    end = start + len(dump[start:].decode()[:length].encode())
    # The section is one element of configs[]: take the comma that joins it to its neighbour too.
    before = dump[:start].rstrip()
    after = dump[end:].lstrip()
    if after.startswith(b","):
        return before + b"\n" + after[1:].lstrip()
    if before.endswith(b","):
        return before[:-1] + b"\n" + after
    return before + after
