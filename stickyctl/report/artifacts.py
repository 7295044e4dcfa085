"""Which input files a finding came from, for the formats that point at files (sarif, github, junit).

A finding names its file directly (``Resource.file``: an input that could not be read, a manifest
object) or through its proxy, whose dump files the report's ``ProxySummary.sources`` lists. Only
real, re-readable paths count: stdin, process substitutions (``/dev/fd/63``) and admin URLs are not
files a code-scanning UI or a CI annotation could open.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from stickyctl.findings import Finding
from stickyctl.report.model import CheckReport

_NOT_FILES = ("-", "stdin")
_PSEUDO_DIRS = ("/dev/", "/proc/")


def is_file_path(source: str) -> bool:
    return source not in _NOT_FILES and "://" not in source and not source.startswith(_PSEUDO_DIRS)


def finding_files(report: CheckReport, finding: Finding) -> tuple[str, ...]:
    """The files behind ``finding``, most specific first, each once, in report order."""
    if finding.resource.file is not None:
        candidates: tuple[str, ...] = (finding.resource.file,)
    elif finding.resource.proxy is not None:
        # Two summaries can share a name (one proxy dumped twice): their files all count.
        candidates = tuple(s for p in report.proxies if p.name == finding.resource.proxy for s in p.sources)
    else:
        candidates = ()
    return tuple(dict.fromkeys(display_path(c) for c in candidates if is_file_path(c)))


class FindingFiles:
    """``finding_files`` for the findings of one report, each distinct file or proxy resolved once:
    a report of tens of thousands of findings from a fleet would otherwise scan every proxy and
    resolve every path once per finding."""

    def __init__(self, report: CheckReport) -> None:
        self._report = report
        self._memo: dict[tuple[str | None, str | None], tuple[str, ...]] = {}

    def __call__(self, finding: Finding) -> tuple[str, ...]:
        # finding_files reads only these two parts of the finding.
        key = (finding.resource.file, finding.resource.proxy)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = finding_files(self._report, finding)
        return found


def display_path(path: str) -> str:
    """``path`` as a POSIX path, relative to the working directory when it lies inside it.

    CI systems resolve annotation and SARIF paths against the checkout, which is where `stickyctl
    check` runs; a path outside it stays absolute (and is then shown, not linked)."""
    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(Path(os.getcwd())).as_posix()
        except ValueError:
            return p.as_posix()
    return PurePosixPath(p.as_posix()).as_posix()
