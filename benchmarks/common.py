"""What every benchmark shares: which stickyctl runs, and how a run is measured.

stickyctl runs as a user's install runs it: the console script pip wrote next to this Python (not a
version manager's shim such as pyenv's, which re-executes through a shell script first), with its
modules byte-compiled (pip compiles a wheel's modules at install time; an environment that sets
PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every run).

Each command runs in a fresh process; wall time and that process's peak RSS (wait4) are taken.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PY = sys.executable
_SCRIPT = Path(sysconfig.get_path("scripts")) / "stickyctl"
STICKYCTL = [str(_SCRIPT) if _SCRIPT.is_file() else shutil.which("stickyctl") or "stickyctl"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_package() -> None:
    """Byte-compile stickyctl as ``pip install`` does, so no run pays for compiling it."""
    import compileall

    import stickyctl

    compileall.compile_dir(str(Path(stickyctl.__file__).parent), quiet=1)


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``cmd`` (``env``: added to the environment)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**ENV, **(env or {})})
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if code not in (0, 1) or "error" in err:
        raise SystemExit(f"{' '.join(cmd)} exited {code}: {err.strip()}")
    return wall, usage.ru_maxrss / 1024


class Comparison(NamedTuple):
    ours: tuple[float, float]
    """Median (wall seconds, peak RSS MiB) of the command."""
    base: tuple[float, float]
    """The same for the baseline."""
    wall_ratio: float
    """Median over the pairs of (command's wall / baseline's wall)."""
    rss_ratio: float


def compare(cmd: list[str], baseline: list[str], repeat: int) -> Comparison:
    """``cmd`` against ``baseline``: one unmeasured warm-up run each, then ``repeat`` pairs, each pair
    run back to back in alternating order. The ratios are medians of the pairs' own ratios: a shared
    machine whose load changes from one second to the next (other tenants compiling, page cache)
    moves both runs of a pair alike, where medians of each side taken apart could come from
    different spells."""
    return _compare((cmd, None), (baseline, None), repeat)


def compare_env(cmd: list[str], env: dict[str, str], baseline_env: dict[str, str], repeat: int) -> Comparison:
    """One command in two environments (e.g. two copies of the package on PYTHONPATH), as ``compare``."""
    return _compare((cmd, env), (cmd, baseline_env), repeat)


_Run = tuple[list[str], dict[str, str] | None]


def _compare(run: _Run, baseline: _Run, repeat: int) -> Comparison:
    run_once(*baseline)
    run_once(*run)
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    for i in range(repeat):
        pair = [(run, ours), (baseline, base)]
        for r, sink in pair if i % 2 else reversed(pair):
            sink.append(run_once(*r))
    return Comparison(
        (statistics.median(w for w, _ in ours), statistics.median(m for _, m in ours)),
        (statistics.median(w for w, _ in base), statistics.median(m for _, m in base)),
        statistics.median(a[0] / b[0] for a, b in zip(ours, base, strict=True)),
        statistics.median(a[1] / b[1] for a, b in zip(ours, base, strict=True)),
    )


def measure(cmd: list[str], repeat: int) -> tuple[float, float]:
    """Median wall seconds and median peak RSS (MiB) of ``cmd`` (after one warm-up run)."""
    run_once(cmd)
    runs = [run_once(cmd) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), statistics.median(m for _, m in runs)
