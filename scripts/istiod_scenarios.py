#!/usr/bin/env python3
"""Write the project's istiod scenarios (fixtures/istiod/<name>/: cluster.yaml, proxy.yaml, istiod.yaml).

    python scripts/istiod_scenarios.py            # (re)write every scenario directory
    python scripts/istiod_scenarios.py --list     # names and what each stands for

Each scenario is the input of scripts/record_istiod.py: the objects a cluster would hold, the proxy,
istiod's settings. What istiod generates from them is recorded by running istiod's code, never
written here. Scenarios written by hand (as users write theirs) sit beside these and are left alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from stickyctl.lab import cluster as c  # noqa: E402
from stickyctl.lab.scenarios import exit_code  # noqa: E402

JSON = dict[str, Any]

SCENARIO_ROOT = REPO / "fixtures" / "istiod"
HEADER = "# Written by scripts/istiod_scenarios.py; edit the scenario there.\n"
FLAG_ON = {"PILOT_ENABLE_PERSISTENT_SESSION_FILTER": "true"}
HEADER_LABELS = {c.HEADER_LABEL: "x-session-header"}
COOKIE_LABELS = {c.COOKIE_LABEL: "sticky"}


def _gateway_seed(service_labels: dict[str, str], pods: list[c.Workload] | None = None) -> list[c.JSON]:
    """The seed: helloworld x6 behind an Istio Gateway + VirtualService on hosts ``*``."""
    return [
        *c.ingress_gateway(),
        c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}),
        *c.helloworld_app(pods, service_labels=service_labels),
        c.istio_gateway(),
        c.virtual_service(c.HELLOWORLD, [c.HttpRoute([c.Destination(c.HELLOWORLD)])]),
    ]


def seed_header() -> c.ScenarioSpec:
    return c.ScenarioSpec(_gateway_seed(HEADER_LABELS), istiod_env=FLAG_ON)


def seed_cookie() -> c.ScenarioSpec:
    return c.ScenarioSpec(_gateway_seed(COOKIE_LABELS), istiod_env=FLAG_ON)


def flag_off_header() -> c.ScenarioSpec:
    return c.ScenarioSpec(_gateway_seed(HEADER_LABELS), istiod_env={})


def terminating_header() -> c.ScenarioSpec:
    pods = c.with_state(c.helloworld_pods(), 0, "terminating")
    return c.ScenarioSpec(_gateway_seed(HEADER_LABELS, pods), istiod_env=FLAG_ON)


def terminating_cookie() -> c.ScenarioSpec:
    pods = c.with_state(c.helloworld_pods(), 0, "terminating")
    return c.ScenarioSpec(_gateway_seed(COOKIE_LABELS, pods), istiod_env=FLAG_ON)


def subsets_cookie() -> c.ScenarioSpec:
    objs = [
        *c.ingress_gateway(),
        c.namespace(c.HELLOWORLD, {"istio-injection": "enabled"}),
        *c.helloworld_app(service_labels=COOKIE_LABELS),
        c.destination_rule(c.HELLOWORLD, ["v1", "v2"]),
        c.istio_gateway(),
        c.virtual_service(c.HELLOWORLD, [c.HttpRoute([c.Destination(c.HELLOWORLD, subset="v1")])]),
    ]
    return c.ScenarioSpec(objs, istiod_env=FLAG_ON)


def gateway_api_header() -> c.ScenarioSpec:
    gw_name, gw_ns = "helloworld-gateway", c.HELLOWORLD
    gw_name_label = {"gateway.networking.k8s.io/gateway-name": gw_name}
    pod_labels = {**gw_name_label, "sidecar.istio.io/inject": "false"}
    gw_pod = c.Workload(f"{gw_name}-istio-7c9d8b6f4-q2w3e", gw_ns, "10.244.0.9", pod_labels, port=80)
    objs: list[c.JSON] = [
        c.namespace(gw_ns, {"istio-injection": "enabled"}),
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "istio"},
            "spec": {"controllerName": "istio.io/gateway-controller"},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": gw_name, "namespace": gw_ns},
            "spec": {
                "gatewayClassName": "istio",
                "listeners": [
                    {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}
                ],
            },
        },
        # Istio's deployment controller makes <name>-istio for the Gateway (ports as listed there).
        c.service(f"{gw_name}-istio", gw_ns, port=80, labels=gw_name_label, selector=gw_name_label),
        c.pod(gw_pod, containers=[{"name": "istio-proxy", "image": c.PROXY_IMAGE}]),
        *c.helloworld_app(service_labels=HEADER_LABELS),
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": c.HELLOWORLD, "namespace": gw_ns},
            "spec": {
                "parentRefs": [{"name": gw_name}],
                "rules": [
                    {
                        "matches": [{"path": {"type": "Exact", "value": "/hello"}}],
                        "backendRefs": [{"name": c.HELLOWORLD, "port": c.HELLOWORLD_PORT}],
                    }
                ],
            },
        },
    ]
    proxy = c.router_proxy(gw_ns, gw_pod.name, gw_pod.ip, labels=pod_labels)
    return c.ScenarioSpec(objs, proxy=proxy, istiod_env=FLAG_ON)


GW = "proxy:istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress"
GW_API = "proxy:helloworld-gateway-istio-7c9d8b6f4-q2w3e.helloworld"
ISTIOD = "object:Deployment/istio-system/istiod"
HW = "helloworld.helloworld.svc.cluster.local"

Findings = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Entry:
    """One fixture: a scenario istiod's code is run on (or a scripted edit of another's recording)
    and the exact findings ``stickyctl check`` must give on what was recorded."""

    what: str
    findings: Findings
    build: Callable[[], c.ScenarioSpec] | None = None
    derived_from: str | None = None
    edit: Callable[[JSON], JSON] | None = None
    """For cases istiod cannot produce: a documented edit of ``derived_from``'s recorded dump."""
    without_services: bool = False
    """Check without --services (the dump's own session config is all there is to go by)."""
    given: Callable[[list[JSON]], list[JSON]] | None = None
    """What the user passes to --services when it is not the whole cluster (written as
    services.yaml): a documented selection of cluster.yaml's objects."""


SCENARIOS: dict[str, Entry] = {
    "seed-header": Entry(
        "helloworld x6, Istio Gateway + VirtualService on hosts *, header label, flag on",
        (("STK0404", f"{GW}/cluster:outbound|5000||{HW}"), ("STK0601", GW)), seed_header,
    ),
    "seed-cookie": Entry("the seed with the cookie label", (("STK0601", GW),), seed_cookie),
    "flag-off-header": Entry(
        "the seed (header label) with istiod's flag unset",
        (
            ("STK0101", ISTIOD),
            ("STK0201", GW),
            ("STK0301", f"{GW}/route_config:http.8080/virtual_host:*:80/route:#0"),
            ("STK0404", f"{GW}/cluster:outbound|5000||{HW}"),
        ),
        flag_off_header,
    ),
    "terminating-header": Entry(
        "header label, one pod terminating (serving, not ready): istiod drops it from EDS",
        (("STK0404", f"{GW}/cluster:outbound|5000||{HW}"), ("STK0601", GW)), terminating_header,
    ),
    "terminating-cookie": Entry(
        "cookie label, one pod terminating (serving, not ready)", (("STK0601", GW),), terminating_cookie
    ),
    "subsets-cookie": Entry(
        "cookie label, DestinationRule subsets v1/v2, route to subset v1",
        (("STK0401", f"{GW}/cluster:outbound|5000|v1|{HW}"), ("STK0601", GW)),
        subsets_cookie,
    ),
    "gateway-api-header": Entry(
        "Gateway API Gateway + HTTPRoute, header label",
        (("STK0404", f"{GW_API}/cluster:outbound|5000||{HW}"), ("STK0601", GW_API)), gateway_api_header,
    ),
}
# Scenarios of the checks (issue 14) live in their own file; it imports this module's builders.
sys.modules.setdefault("istiod_scenarios", sys.modules[__name__])
from istiod_scenarios_checks import CHECK_SCENARIOS  # noqa: E402

SCENARIOS.update(CHECK_SCENARIOS)

CHECK_ARGS = ("-f", "recorded/config_dump.json", "--services", "cluster.yaml", "--istiod", "recorded/istiod.yaml")


def write_inputs(name: str, entry: Entry, root: Path = SCENARIO_ROOT) -> None:
    """The scenario files and expected.yaml (no recording)."""
    directory = root / name
    if entry.build is not None:
        spec = entry.build()
        spec.write(directory, header=HEADER)
        if entry.given is not None:
            given = entry.given(list(spec.objects))
            (directory / "services.yaml").write_text(HEADER + yaml.safe_dump_all(given, sort_keys=False))
    else:
        directory.mkdir(parents=True, exist_ok=True)
    write_expected(directory, entry)


def write_expected(directory: Path, entry: Entry) -> None:
    doc: JSON = {"what": entry.what}
    if entry.derived_from:
        assert entry.edit is not None
        doc["derived_from"] = entry.derived_from
        doc["edit"] = (entry.edit.__doc__ or "").strip()
    if entry.given is not None:
        doc["given"] = (entry.given.__doc__ or "").strip()
    args = list(CHECK_ARGS) if entry.build else _derived_args(entry)
    if entry.given is not None:
        args[args.index("cluster.yaml")] = "services.yaml"
    if entry.without_services:
        i = args.index("--services")
        del args[i:i + 2]
    doc["args"] = args
    doc["exit_code"] = exit_code(entry.findings)
    doc["findings"] = [{"code": code, "resource_id": rid} for code, rid in entry.findings]
    (directory / "expected.yaml").write_text(HEADER + yaml.safe_dump(doc, sort_keys=False, width=200))


def _derived_args(entry: Entry) -> list[str]:
    base = f"../{entry.derived_from}"
    return ["-f", "recorded/config_dump.json", "--services", f"{base}/cluster.yaml",
            "--istiod", f"{base}/recorded/istiod.yaml"]  # fmt: skip


class RecordingFailed(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")


def record_entry(name: str, entry: Entry, root: Path = SCENARIO_ROOT, *, out: Path | None = None) -> None:
    """Record ``name`` into ``out`` (default ``<root>/<name>/recorded``): run istiod's code, or
    apply the edit to the base scenario's recording (which must be recorded first)."""
    target = out or root / name / "recorded"
    if entry.build is not None:
        # A process of its own per recording: record_istiod.py moves itself into a network
        # namespace of its own, where the gateway's fixed ports collide with nothing.
        proc = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "record_istiod.py"), str(root / name), str(target)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RecordingFailed(name, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed")
        return
    assert entry.derived_from is not None and entry.edit is not None
    base = (out.parent.parent / entry.derived_from / "recorded") if out else root / entry.derived_from / "recorded"
    dump = json.loads((base / "config_dump.json").read_text())
    target.mkdir(parents=True, exist_ok=True)
    (target / "config_dump.json").write_text(json.dumps(entry.edit(dump), indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="only this scenario (repeatable)")
    parser.add_argument("--record", action="store_true",
                        help="also record each scenario with istiod's code (needs Go and envoy)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.list:
        for name, entry in SCENARIOS.items():
            print(f"{name:32} {entry.what}")
        return 0
    unknown = sorted(set(args.only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r} (see --list)")
    chosen = [n for n in SCENARIOS if not args.only or n in args.only]
    for name in chosen:
        write_inputs(name, SCENARIOS[name])
    if args.record:
        import record_istiod

        try:
            record_istiod.build_harness()
            # Scenarios istiod runs on first, then the edits of their recordings.
            for name in sorted(chosen, key=lambda n: SCENARIOS[n].build is None):
                record_entry(name, SCENARIOS[name])
                print(f"recorded {name}", file=sys.stderr)
        except (record_istiod.RecordError, RecordingFailed) as exc:
            print(f"istiod_scenarios: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
