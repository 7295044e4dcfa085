"""Every docs_url comes from one configured base: pyproject.toml's [project.urls] Documentation,
which mkdocs.yml's site_url equals; `stickyctl explain` needs no network."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stickyctl import catalog
from stickyctl.catalog import CATALOG
from tests.conftest import ROOT, invoke


def _configured() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    urls = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert urls, "pyproject.toml has no [project.urls]"
    m = re.search(r'^Documentation\s*=\s*"([^"]+)"', urls.group(1), re.M)
    assert m, "pyproject.toml's [project.urls] has no Documentation"
    return m.group(1)


def test_every_docs_url_is_under_the_configured_documentation_url() -> None:
    base = _configured()
    assert catalog.documentation_url() == base.rstrip("/") + "/"
    for code, spec in CATALOG.items():
        assert spec.docs_url == f"{base.rstrip('/')}/checks/{code}/"


def test_mkdocs_site_url_is_the_same() -> None:
    m = re.search(r"^site_url:\s*(\S+)", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    assert m and m.group(1) == _configured()


def test_no_other_docs_domain_in_the_code() -> None:
    for path in (ROOT / "stickyctl").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "stickyctl.dev" not in text, path
        assert "readthedocs.io" not in text, f"{path}: the documentation URL belongs in pyproject.toml only"


def _copy_package(tmp_path: Path, metadata: str | None) -> Path:
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "stickyctl", site / "stickyctl", ignore=shutil.ignore_patterns("__pycache__"))
    if metadata is not None:
        info = site / "stickyctl-9.9.9.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(metadata, encoding="utf-8")
    return site


def _docs_url_in(site: Path) -> str:
    code = "import stickyctl.catalog as c; print(c.CATALOG['STK0301'].docs_url)"
    out = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = [{str(site)!r}]; {code}"],
                         capture_output=True, text=True, timeout=60, cwd=site)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_an_installed_package_reads_it_from_its_metadata(tmp_path: Path) -> None:
    metadata = ("Metadata-Version: 2.1\nName: stickyctl\nVersion: 9.9.9\n"
                "Project-URL: Documentation, https://docs.example.test/stickyctl\n\nThe README …\n")
    assert _docs_url_in(_copy_package(tmp_path, metadata)) == "https://docs.example.test/stickyctl/checks/STK0301/"


def test_without_a_configured_url_the_page_in_the_source_tree(tmp_path: Path) -> None:
    assert _docs_url_in(_copy_package(tmp_path, None)) == "docs/checks/STK0301.md"


def test_explain_works_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    res = invoke("explain", "STK0401")
    assert res.exit_code == 0, res.stderr
    text = " ".join(res.stdout.split())
    spec = CATALOG["STK0401"]
    assert spec.title in text and "How to fix" in text and spec.docs_url in text
