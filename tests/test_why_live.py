"""`stickyctl why -n NS [--pod P]`: the same prediction as `--admin-url` on the same Envoy, read
through the fake API server's port-forward (real kubernetes client, real sockets, a real lab Envoy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stickyctl.envoy.session_values import encode_header
from stickyctl.lab.scenarios import HEADER
from tests.conftest import RunCli
from tests.live_support import NS, POD, Gateway, lab_cluster, need_envoy, serving


def _doc(res: Any) -> dict[str, Any]:
    assert "Traceback" not in res.stdout + res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


@pytest.mark.usefixtures("no_ambient_kube")
def test_why_live_equals_admin_url(run_cli: RunCli, tmp_path: Path) -> None:
    need_envoy()
    pinned = encode_header("127.0.0.12", 5000)
    stale = encode_header("10.9.9.9", 5000)
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path) as (server, kc):
        for value in (pinned, stale):
            args = ["--url", "http://gw/hello", "--header", f"x-session-header:{value}", "-o", "json"]
            live = run_cli("why", "-n", NS, "--kubeconfig", str(kc), *args)
            named = run_cli("why", "-n", NS, "--pod", POD, "--kubeconfig", str(kc), *args)
            admin = run_cli("why", "--admin-url", lab.admin_url(POD), *args)
            a, b, c = _doc(live), _doc(named), _doc(admin)
            for key in ("verdict", "upstream", "reason", "route", "clusters"):
                assert a[key] == b[key] == c[key], key
            assert live.exit_code == admin.exit_code
            assert a["verdict"] == ("sticks" if value == pinned else "rebalanced"), a["reason"]
            assert f"reading pod/{NS}/{POD} through a port-forward" in live.stderr
        assert {e.method for e in server.requests()} == {"GET"}
        missing = run_cli("why", "-n", NS, "--pod", "nope", "--kubeconfig", str(kc), "--url", "http://gw/hello")
    assert missing.exit_code == 3
    assert len(missing.stderr.strip().splitlines()) == 1 and "not found" in missing.stderr


def test_why_live_flags_do_not_mix_with_files(run_cli: RunCli) -> None:
    res = run_cli("why", "-f", "dump.json", "-n", NS, "--url", "http://gw/hello")
    assert res.exit_code == 2 and "not with -f" in res.stderr
