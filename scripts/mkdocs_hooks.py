"""mkdocs hooks (mkdocs.yml ``hooks:``): the parts of the site that come from the code.

- The nav's ``Checks`` entry is expanded into the index and one page per code, from the catalog,
  in code order: docs/checks/ is generated from the same catalog (scripts/gen_docs.py), so the
  nav can never miss a page or list one that is gone.
- Links from a docs page to a source file of the repository (``../stickyctl/report/model.py``)
  work when the page is read on the forge but are not part of the site: they become the file's
  path in code (or a link into ``repo_url`` when mkdocs.yml sets one), instead of a dead link.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stickyctl.catalog import CATALOG, RETIRED  # noqa: E402

CHECKS_SECTION = "Checks"
CHECKS_INDEX = "checks/index.md"
_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<target>\.\./[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def check_nav() -> list[Any]:
    pages: list[Any] = [CHECKS_INDEX]
    pages += [{f"{code} {CATALOG[code].name}": f"checks/{code}.md"} for code in sorted(CATALOG)]
    pages += [{f"{code} (retired)": f"checks/{code}.md"} for code in sorted(RETIRED)]
    return pages


def on_config(config: Any, **_: Any) -> Any:
    nav = config["nav"] or []
    for i, item in enumerate(nav):
        if isinstance(item, dict) and item.get(CHECKS_SECTION) == CHECKS_INDEX:
            nav[i] = {CHECKS_SECTION: check_nav()}
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, **_: Any) -> str:
    docs_dir = Path(config["docs_dir"]).resolve()
    page_dir = (docs_dir / page.file.src_uri).parent
    repo_url = (config.get("repo_url") or "").rstrip("/")

    def replace(match: re.Match[str]) -> str:
        target = (page_dir / match["target"]).resolve()
        if target.is_relative_to(docs_dir) or not target.is_relative_to(ROOT) or not target.exists():
            return match[0]  # a docs page (mkdocs checks it) or not ours: leave it alone
        rel = PurePosixPath(target.relative_to(ROOT).as_posix())
        if repo_url:
            return f"[{match['text']}]({repo_url}/blob/main/{rel}{match['anchor'] or ''})"
        text = match["text"]
        return text if text.startswith("`") else f"{text} (`{rel}`)"

    return _LINK.sub(replace, markdown)
