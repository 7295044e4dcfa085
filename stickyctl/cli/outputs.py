"""`--output-file FORMAT=PATH`: extra reports of one `check` run, each written whole or not at all.

A CI job wants SARIF for upload and a table in its log from one run. Each file is rendered in
memory first, then written to a temporary file in the target's directory and renamed over the
target (atomic on POSIX and Windows): an interrupted or failing run never leaves a half-written
SARIF for the next step to upload.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stickyctl.environment import Environment
from stickyctl.errors import UsageError
from stickyctl.report.model import CheckReport


@dataclass(frozen=True)
class OutputFile:
    format: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> OutputFile:
        from stickyctl.report.render import FORMATS

        fmt, sep, path = text.partition("=")
        fmt = fmt.strip().lower()
        if not sep or not path:
            raise UsageError(f"--output-file {text!r}: expected FORMAT=PATH, e.g. sarif=stickyctl.sarif")
        if fmt not in FORMATS:
            raise UsageError(f"--output-file {text!r}: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        if path == "-":
            raise UsageError(f"--output-file {text!r}: stdout is -o's; give a file path")
        return cls(fmt, Path(path))


def parse_all(texts: list[str]) -> list[OutputFile]:
    out = [OutputFile.parse(t) for t in texts]
    seen: set[Path] = set()
    for o in out:
        key = Path(os.path.abspath(o.path))
        if key in seen:
            raise UsageError(f"--output-file: {o.path} is given twice")
        seen.add(key)
    return out


def render_text(report: CheckReport, fmt: str) -> str:
    """What `-o FMT` would print, as a string; never coloured (a file is not a terminal)."""
    from stickyctl.report.render import render

    buf = io.StringIO()
    render(report, fmt, Environment(stdout=buf, color="never"))
    return buf.getvalue()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename; on any failure ``path`` is left as it was."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"--output-file {path}: cannot write there: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UsageError(f"--output-file {path}: cannot write it: {exc.strerror or exc}") from None
        raise


def write_all(report: CheckReport, files: list[OutputFile]) -> None:
    """Render every file first (so a rendering error writes nothing), then write each atomically."""
    rendered = [(o.path, render_text(report, o.format)) for o in files]
    for path, text in rendered:
        write_atomically(path, text)
