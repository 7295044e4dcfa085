"""Benchmarks: ratios against baselines measured in the same run (never absolute timings).

    python benchmarks/gen_dump.py            # once: records dumps from a real Envoy
    python benchmarks/run.py [--repeat 5]    # prints a Markdown table (docs/performance.md)

Medians over --repeat runs, each command interleaved with its baseline (benchmarks/common.py). The
live fleet row needs a real Envoy and, for 50 of them, more inotify instances than the default
(benchmarks/live_fleet.py); without them the row says it was not measured.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, HERE, PY, STICKYCTL, compare, compile_package, measure


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 40000])
    ap.add_argument("--pods", type=int, default=50, help="gateway pods of the live fleet row (0: no row)")
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

    if args.pods:
        import live_fleet

        rows.append(live_fleet.row(args.pods, args.repeat))

    print("| measurement | stickyctl / baseline | ratio | goal |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
