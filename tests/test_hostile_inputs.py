"""Hostile and broken inputs: one clear line naming what and where, exit 3, bounded memory and time,
never a traceback, never a pass."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stickyctl.checks.engine import CheckOptions, check
from tests.conftest import CASES, RunCli

HEALTHY = CASES / "pass-helloworld-header"
DUMP = HEALTHY / "dump.json"


def _one_error_line(res: Any, *needles: str) -> None:
    assert res.exit_code == 3, (res.exit_code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in res.stdout + res.stderr


def test_deeply_nested_json(run_cli: RunCli, tmp_path: Path) -> None:
    p = tmp_path / "deep.json"
    p.write_text('{"configs": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _one_error_line(run_cli("check", "-f", str(p)), str(p), "nested too deeply")


def test_deeply_nested_yaml(run_cli: RunCli, tmp_path: Path) -> None:
    p = tmp_path / "deep.yaml"
    p.write_text("configs: " + "[" * 20_000 + "]" * 20_000 + "\n")
    _one_error_line(run_cli("check", "-f", str(p)), str(p), "nested too deeply")


def test_yaml_alias_bomb_is_refused_without_expanding(run_cli: RunCli, tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):  # 10**12 nodes if expanded
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    for option in ("-f", "--services"):
        args = ["check", option, str(p)] if option == "-f" else ["check", "-f", str(DUMP), option, str(p)]
        _one_error_line(run_cli(*args), str(p), "alias bomb")


def test_yaml_custom_tags_are_not_constructed(run_cli: RunCli, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "tag.yaml"
    p.write_text(f"configs: !!python/object/apply:os.system ['touch {marker}']\n")
    _one_error_line(run_cli("check", "-f", str(p)), str(p), "invalid YAML")
    assert not marker.exists()


def test_nul_bytes_and_bom(run_cli: RunCli, tmp_path: Path) -> None:
    p = tmp_path / "nul.json"
    p.write_bytes(b'{"configs": [\x00]}')
    _one_error_line(run_cli("check", "-f", str(p)), str(p), "not UTF-8")
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + DUMP.read_bytes())
    assert run_cli("check", "-f", str(bom)).exit_code == 0
    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(DUMP.read_text().encode("utf-16"))
    _one_error_line(run_cli("check", "-f", str(utf16)), str(utf16), "UTF-16")


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    """A 1 GiB + 1 byte file: refused from its size, fast, in bounded memory (a real process)."""
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate((1 << 30) + 1)  # sparse: costs no disk
    exe = shutil.which("stickyctl")
    cmd = [exe] if exe else [sys.executable, "-m", "stickyctl"]
    # Bounded memory, enforced rather than read back: the child may not allocate more than 512 MiB of
    # data (a read of the file would fail). Its ru_maxrss cannot show this: Linux counts the parent's
    # pages the child held between fork and exec, so it grows with the size of this test process.
    limit = 512 << 20

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    err = tmp_path / "stderr"
    with err.open("w") as err_fh:
        proc = subprocess.Popen([*cmd, "check", "-f", str(big)], stdout=subprocess.DEVNULL, stderr=err_fh,
                                preexec_fn=bounded)  # fmt: skip
    killer = threading.Timer(60, proc.kill)  # a refusal is immediate; never hang the suite
    killer.start()
    try:
        _pid, status, _usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = err.read_text()
    assert proc.returncode == 3
    assert "larger than 1024 MiB" in stderr and len(stderr.strip().splitlines()) == 1


def test_oversized_pipe_is_refused(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STICKYCTL_MAX_INPUT_BYTES", "1000")
    res = run_cli("check", "-f", "-", stdin=DUMP.read_text())
    _one_error_line(res, "stdin", "larger than 1000 bytes")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_process_substitution_is_normal_use() -> None:
    exe = shutil.which("stickyctl")
    if exe is None:
        pytest.skip("stickyctl is not installed on PATH")
    script = f'"{exe}" check -f <(cat "{DUMP}") --services <(cat "{HEALTHY}/services.yaml")'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# --- Any JSON value at any position of a valid dump -------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


_DOC = json.loads(DUMP.read_text()) if DUMP.is_file() else {}
_ALL_PATHS = _paths(_DOC)[1:]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), value=json_values)
def test_any_value_anywhere_gives_findings_or_stk0002(tmp_path: Path, seed: int, value: Any) -> None:
    if not _ALL_PATHS:
        pytest.skip("fixtures not recorded")
    doc = json.loads(json.dumps(_DOC))
    path = random.Random(seed).choice(_ALL_PATHS)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    p = tmp_path / f"mut-{os.getpid()}.json"
    p.write_text(json.dumps(doc))
    report = check(CheckOptions(dumps=[str(p)]))  # must not raise
    codes = {f.code for f in report.findings}
    if "STK0002" in codes:
        assert int(report.exit_status) == 3
        (bad,) = [f for f in report.findings if f.code == "STK0002"]
        assert str(p) in bad.message
    else:
        assert int(report.exit_status) in (0, 1)
