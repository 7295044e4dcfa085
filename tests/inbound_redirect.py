"""A sidecar's inbound listener on a real Envoy, reached the way a pod's traffic reaches it (test support).

A sidecar's ``virtualInbound`` (0.0.0.0:15006) only sees connections that istio-iptables
redirected there: its filter chains match the *original* destination port (the ``original_dst``
listener filter reads it back with SO_ORIGINAL_DST). A connection made to 15006 directly lands in
the ``virtualInbound-blackhole`` chain. So this runs, in a network namespace of its own, istiod's
own config for helloworld's sidecar (the recorder's ``serving``: the istiod harness over ADS to a
real Envoy) behind the one rule of istio-iptables that matters here: TCP to the pod's address and
application port is redirected to 15006, except what Envoy itself sends from 127.0.0.6 (istiod's
inbound clusters bind there: ``upstream_bind_config``; istio-iptables lets ``-s 127.0.0.6 -o lo``
through). A backend serves on the pod's address; requests to it then go client -> 15006 (the inbound
chain of port 5000) -> ``inbound|5000||`` (ORIGINAL_DST) -> the backend.

    python -m tests.inbound_redirect SCENARIO_DIR OUT.json

Writes {"requests": [...], "dump": <config dump>} to OUT.json. Exit status 77 when this machine
cannot do it (no network namespace, no iptables NAT): the test skips then.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from stickyctl.lab.backends import Backend, BackendSpec
from tests.conftest import load_script

SKIP = 77
POD_IP, APP_PORT, INBOUND_PORT, ENVOY_SOURCE = "127.0.0.11", 5000, 15006, "127.0.0.6"
OTHER_POD = "127.0.0.12"


def redirect_inbound() -> str | None:
    """istio-iptables' inbound capture for one pod address; the reason when it cannot be set up."""
    iptables = shutil.which("iptables")
    if iptables is None:
        return "no iptables"
    rule = [iptables, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", POD_IP, "--dport", str(APP_PORT),
            "!", "-s", ENVOY_SOURCE, "-j", "REDIRECT", "--to-ports", str(INBOUND_PORT)]  # fmt: skip
    done = subprocess.run(rule, capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else f"iptables: {done.stderr.strip() or done.returncode}"


def request(header: str | None) -> dict[str, Any]:
    conn = http.client.HTTPConnection(POD_IP, APP_PORT, timeout=10)
    try:
        conn.request("GET", "/hello", headers={"x-session-header": header} if header else {})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        return {"sent": header, "status": response.status, "body": body,
                "issued": response.getheader("x-session-header")}
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    scenario_dir, out = Path(argv[0]), Path(argv[1])
    recorder = load_script("record_istiod")
    if not recorder.enter_private_network():
        print("no network namespace of its own (needs root or unprivileged user namespaces)", file=sys.stderr)
        return SKIP
    why = redirect_inbound()
    if why is not None:
        print(why, file=sys.stderr)
        return SKIP
    backends = [Backend(BackendSpec(ip, APP_PORT, "v1", f"pod-{ip}")) for ip in (POD_IP, OTHER_POD)]
    for b in backends:
        b.start()
    try:
        with recorder.serving(recorder.load_scenario(scenario_dir), fixed_ports=True) as run:
            from stickyctl.envoy.session_values import encode_header

            requests = [request(None), request(encode_header(OTHER_POD, APP_PORT)),
                        request(encode_header(POD_IP, APP_PORT))]
            dump = run.envoy.config_dump()
    finally:
        for b in backends:
            b.stop()
    out.write_text(json.dumps({"requests": requests, "dump": dump}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
