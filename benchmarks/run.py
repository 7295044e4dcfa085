"""Benchmarks: ratios against baselines measured in the same run (never absolute timings).

    python benchmarks/gen_dump.py            # once: records dumps from a real Envoy
    python benchmarks/run.py [--repeat 3]    # prints a Markdown table (docs/performance.md)

Each command runs in a fresh process; wall time and that process's peak RSS (wait4) are taken,
the median over --repeat runs is reported.

stickyctl runs as a user's install runs it: the console script pip wrote next to this Python (not a
version manager's shim such as pyenv's, which re-executes through a shell script first), with its
modules byte-compiled (pip compiles a wheel's modules at install time; an environment that sets
PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every run).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

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


def run_once(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if code not in (0, 1) or "error" in err:
        raise SystemExit(f"{' '.join(cmd)} exited {code}: {err.strip()}")
    return wall, usage.ru_maxrss / 1024


def compare(cmd: list[str], baseline: list[str], repeat: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Medians (wall, peak RSS) of ``cmd`` and of ``baseline``. The two are interleaved, in
    alternating order, after one unmeasured warm-up run each: a shared machine whose speed drifts
    during the run (other tenants, page cache) moves both sides of the ratio alike."""
    run_once(baseline)
    run_once(cmd)
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    for i in range(repeat):
        pair = [(cmd, ours), (baseline, base)]
        for c, sink in pair if i % 2 else reversed(pair):
            sink.append(run_once(c))
    return ((statistics.median(w for w, _ in ours), statistics.median(m for _, m in ours)),
            (statistics.median(w for w, _ in base), statistics.median(m for _, m in base)))


def measure(cmd: list[str], repeat: int) -> tuple[float, float]:
    """Median wall seconds and median peak RSS (MiB) of ``cmd`` (after one warm-up run)."""
    run_once(cmd)
    runs = [run_once(cmd) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), statistics.median(m for _, m in runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 40000])
    args = ap.parse_args()
    compile_package()
    rows: list[tuple[str, str, str, str]] = []

    largest = max(args.sizes)
    dump, svcs = DATA / f"dump-{largest}.json", DATA / f"services-{largest}.json"
    if not dump.is_file():
        raise SystemExit("no dumps: run `python benchmarks/gen_dump.py` first")
    (t, m), (base_t, base_m) = compare(
        [*STICKYCTL, "check", "-f", str(dump), "--services", str(svcs), "-o", "json"],
        [PY, "-c", "import json,sys; json.load(open(sys.argv[1]))", str(dump)], args.repeat)
    size = dump.stat().st_size / 1e6
    rows.append((f"check {largest // 1000}k Services ({size:.0f} MB dump) vs json.load: wall",
                 f"{t:.2f}s / {base_t:.2f}s", f"{t / base_t:.2f}x", "<= 0.25x"))
    rows.append((f"check {largest // 1000}k Services vs json.load: peak RSS", f"{m:.0f} MB / {base_m:.0f} MB",
                 f"{m / base_m:.2f}x", "<= 0.35x"))

    # Scaling: the marginal cost per Service between sizes (start-up excluded); linear means the
    # figure stays roughly constant from one step to the next.
    times = []
    for n in sorted(args.sizes):
        d, s = DATA / f"dump-{n}.json", DATA / f"services-{n}.json"
        t, _m = measure([*STICKYCTL, "check", "-f", str(d), "--services", str(s), "-o", "json"], args.repeat)
        times.append((n, t))
    steps = [(a, b, (tb - ta) / (b - a) * 1e6) for (a, ta), (b, tb) in itertools.pairwise(times)]
    for a, b, us in steps:
        rows.append((f"check: marginal time per Service, {a // 1000}k -> {b // 1000}k", f"{us:.0f} µs",
                     f"{us / steps[0][2]:.2f}x of the first step", "roughly constant"))

    value = "MTAuMjQ0LjEuNDo1MDAw"
    (t, _), (base_t, _) = compare([*STICKYCTL, "decode", value], [PY, str(HERE / "minimal_typer.py"), value],
                                  args.repeat * 5)
    rows.append(("stickyctl decode vs minimal typer app", f"{t * 1000:.0f} ms / {base_t * 1000:.0f} ms",
                 f"{t / base_t:.2f}x", "<= 1.2x"))
    (t, _), (base_t, _) = compare([*STICKYCTL, "--help"], [PY, str(HERE / "minimal_typer.py"), "--help"],
                                  args.repeat * 5)
    rows.append(("stickyctl --help vs minimal typer app --help", f"{t * 1000:.0f} ms / {base_t * 1000:.0f} ms",
                 f"{t / base_t:.2f}x", "<= 1.2x"))

    print("| measurement | stickyctl / baseline | ratio | goal |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
