"""Where output goes: the ``Environment`` a command runs in (httpie's idea).

``stickyctl.cli.app.main`` makes one per run and hands it to the command (click's context object);
the command passes it on to what prints (renderers, progress bars). Tests build one on StringIO
instead of patching sys.stdout. Human output is rich on stdout; progress and errors go to stderr;
machine formats bypass rich entirely so they stay byte-stable.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Environment:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    color: str = "auto"
    """auto | always | never; NO_COLOR / FORCE_COLOR are honoured under auto."""

    def _force_terminal(self) -> bool | None:
        if self.color == "always":
            return True
        if self.color == "never":
            return False
        if os.environ.get("NO_COLOR"):
            return False
        if os.environ.get("FORCE_COLOR"):
            return True
        return None

    def color_enabled(self) -> bool:
        force = self._force_terminal()
        if force is not None:
            return force
        isatty = getattr(self.stdout, "isatty", None)
        return bool(isatty and isatty())

    def paint(self, text: str, style: str) -> str:
        """Plain ANSI styling for line output that need not load rich (decode must start fast)."""
        if not style or not text or not self.color_enabled():
            return text
        codes = {"bold": "1", "red": "31", "yellow": "33", "green": "32", "dim": "2"}
        sgr = ";".join(codes[s] for s in style.split() if s in codes)
        return f"\x1b[{sgr}m{text}\x1b[0m" if sgr else text

    def console(self) -> Console:
        from rich.console import Console

        force = self._force_terminal()
        return Console(
            file=self.stdout,
            force_terminal=force,
            no_color=force is False,
            highlight=False,
            soft_wrap=False,
        )

    def err_console(self) -> Console:
        from rich.console import Console

        force = self._force_terminal()
        return Console(file=self.stderr, force_terminal=force, no_color=force is False, highlight=False)

    def error(self, message: str) -> None:
        """One plain line on stderr: `stickyctl: error: <message>` (control characters escaped,
        credentials scrubbed: see stickyctl.sanitize)."""
        from stickyctl.sanitize import message as safe

        self.stderr.write(f"stickyctl: error: {safe(message)}\n")
        self.stderr.flush()

    def warn(self, message: str) -> None:
        from stickyctl.sanitize import message as safe

        self.stderr.write(f"stickyctl: warning: {safe(message)}\n")
        self.stderr.flush()

    def write(self, text: str) -> None:
        """Machine output, byte for byte."""
        self.stdout.write(text)
        self.stdout.flush()

    def write_utf8(self, *chunks: bytes) -> None:
        """Machine output already encoded as UTF-8: written as it is where stdout would write the same
        bytes for its text (a UTF-8 stream that translates no newlines), saving a decode and an
        encode of tens of MB for a large report; else decoded and written as text."""
        buffer = getattr(self.stdout, "buffer", None)
        encoding = str(getattr(self.stdout, "encoding", "") or "").lower().replace("-", "").replace("_", "")
        if buffer is not None and encoding == "utf8" and os.linesep == "\n":
            self.stdout.flush()
            for chunk in chunks:
                buffer.write(chunk)
            buffer.flush()
            return
        self.write("".join(chunk.decode("utf-8") for chunk in chunks))

