"""A directory of generated files kept in the repository (docs/checks/, completions/).

``problems`` names each file out of step with what its generator produces, ``write`` brings the
directory in step (and removes files no longer generated), ``main`` is the ``[--check]`` command
line both generators share. Files are written with ``\\n`` line ends: output is byte-stable.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class GeneratedDir:
    directory: Path
    generate: Callable[[], dict[str, str]]
    """File name -> content."""
    pattern: str = "*"
    """Which existing files belong to the generator (others are left alone)."""
    executable: frozenset[str] = field(default_factory=frozenset)
    """Files that must be executable (e.g. a kubectl plugin completion script)."""

    def _existing(self, directory: Path) -> set[str]:
        return {p.name for p in directory.glob(self.pattern) if p.is_file()} if directory.is_dir() else set()

    def problems(self, directory: Path | None = None) -> list[str]:
        """``missing: …``, ``stale: …``, ``not executable: …``, ``extra: …`` lines, one per file."""
        directory = directory or self.directory
        files = self.generate()
        existing = self._existing(directory)
        out: list[str] = []
        for name, content in files.items():
            path = directory / name
            if name not in existing:
                out.append(f"missing: {_rel(path)}")
            elif path.read_text(encoding="utf-8") != content:
                out.append(f"stale: {_rel(path)}")
            elif name in self.executable and not _is_executable(path):
                out.append(f"not executable: {_rel(path)}")
        out += [f"extra: {_rel(directory / name)}" for name in sorted(existing - set(files))]
        return out

    def write(self, directory: Path | None = None) -> list[str]:
        """Bring the directory in step; returns ``wrote …`` / ``made executable …`` / ``removed …`` lines."""
        directory = directory or self.directory
        files = self.generate()
        directory.mkdir(parents=True, exist_ok=True)
        done: list[str] = []
        for name, content in files.items():
            path = directory / name
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                with path.open("w", encoding="utf-8", newline="\n") as fh:
                    fh.write(content)
                done.append(f"wrote {_rel(path)}")
            if name in self.executable and not _is_executable(path):
                os.chmod(path, path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                done.append(f"made executable {_rel(path)}")
        for name in sorted(self._existing(directory) - set(files)):
            (directory / name).unlink()
            done.append(f"removed {_rel(directory / name)}")
        return done

    def main(self, argv: list[str] | None, description: str | None, script: str) -> int:
        parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--check", action="store_true", help="report out-of-date files and exit 1; write nothing")
        args = parser.parse_args(argv)
        if args.check:
            found = self.problems()
            for line in found:
                print(line, file=sys.stderr)
            if found:
                print(f"{_rel(self.directory)}/ is out of date: run python {script}", file=sys.stderr)
                return 1
            return 0
        for line in self.write():
            print(line)
        return 0


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def _rel(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
