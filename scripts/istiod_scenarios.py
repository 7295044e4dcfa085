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
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from stickyctl.lab import cluster as c  # noqa: E402

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
    pod_labels = {"gateway.networking.k8s.io/gateway-name": gw_name, "sidecar.istio.io/inject": "false"}
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
                "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}],
            },
        },
        # Istio's deployment controller makes <name>-istio for the Gateway (ports as listed there).
        c.service(f"{gw_name}-istio", gw_ns, port=80, labels={"gateway.networking.k8s.io/gateway-name": gw_name},
                  selector={"gateway.networking.k8s.io/gateway-name": gw_name}),  # fmt: skip
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


SCENARIOS: dict[str, tuple[Callable[[], c.ScenarioSpec], str]] = {
    "seed-header": (seed_header, "helloworld x6, Istio Gateway + VirtualService on hosts *, header label, flag on"),
    "seed-cookie": (seed_cookie, "the seed with the cookie label"),
    "flag-off-header": (flag_off_header, "the seed (header label) with istiod's flag unset"),
    "terminating-header": (terminating_header, "header label, one pod terminating (serving, not ready)"),
    "terminating-cookie": (terminating_cookie, "cookie label, one pod terminating (serving, not ready)"),
    "subsets-cookie": (subsets_cookie, "cookie label, DestinationRule subsets v1/v2, route to subset v1"),
    "gateway-api-header": (gateway_api_header, "Gateway API Gateway + HTTPRoute, header label"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="write only this scenario")
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, what) in SCENARIOS.items():
            print(f"{name:24} {what}")
        return 0
    unknown = sorted(set(args.only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r} (see --list)")
    for name, (build, _) in SCENARIOS.items():
        if args.only and name not in args.only:
            continue
        build().write(SCENARIO_ROOT / name, header=HEADER)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
