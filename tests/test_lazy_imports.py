"""Heavy modules stay off the paths that do not need them (issue: decode between two curls must be instant)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import CASES

HEAVY = ("kubernetes", "httpx", "websocket", "urllib3")

PROBE = """
import sys
sys.argv = ["stickyctl", *sys.argv[1:]]
from stickyctl.cli.app import main
try:
    main()
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
sys.stderr.write("HEAVY:" + ",".join(heavy) + "\\n")
"""


@pytest.mark.parametrize(
    "args",
    [
        ["decode", "MTAuMjQ0LjEuNDo1MDAw"],
        ["encode", "10.244.1.4:5000"],
        ["explain", "STK0301"],
        ["checks"],
        ["--help"],
        ["check", "--help"],
        ["check", "-f", str(CASES / "pass-helloworld-header" / "dump.json")],
        ["check", "--sample", "helloworld", "-o", "json"],
    ],
    ids=lambda a: " ".join(a)[:40],
)
def test_no_heavy_imports(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True,
                          timeout=60)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("HEAVY:"))
    assert line == "HEAVY:", f"{args} imported {line[6:]}"
