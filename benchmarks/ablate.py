"""Does each speed trick still pay? Each one undone in a copy of the package, measured against the
package as it is, in the same run (ratios, interleaved pairs: benchmarks/common.py).

    python benchmarks/ablate.py [--repeat 5] [TRICK ...]    # after benchmarks/gen_dump.py

A trick is a text edit that undoes it (``old`` -> ``new`` in one file) and the command it is meant
to speed up (or to keep small). The table's ratios are "without the trick / with it": above 1.00x
the trick pays by that much, in wall time or in peak RSS. A trick whose text is no longer found is
reported, not silently skipped: the edit (or the trick) has to be updated. Tricks that stay carry a
one-line comment with the gain measured here (docs/performance.md, "What makes it fast").
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, PY, compare_env

ROOT = Path(__file__).resolve().parent.parent
# sys.path[0] is the working directory for `python -c`: the copy on PYTHONPATH must come first.
RUN = "import sys; del sys.path[0]; from stickyctl.cli.app import run; run()"


@dataclass(frozen=True)
class Trick:
    name: str
    path: str
    """The file, relative to the repository root."""
    old: str
    new: str
    command: str
    """A key of ``commands()``."""


TRICKS = (
    Trick("gc-disabled", "stickyctl/checks/engine.py", "    gc.disable()\n", "    pass\n", "noeds"),
    Trick("quick-exit", "stickyctl/cli/app.py", "    os._exit(code)\n", "    sys.exit(code)\n", "noeds"),
    Trick("msgspec-json", "stickyctl/report/machine.py",
          "    return msgspec.json.format(msgspec.json.encode(document), indent=2)\n",
          "    import json\n\n    return json.dumps(document, indent=2, ensure_ascii=False,"
          " default=msgspec.to_builtins).encode()\n", "heavy"),
    Trick("resource-id-cached", "stickyctl/findings.py", "    @functools.cached_property\n    def id(self)",
          "    @property\n    def id(self)", "heavy"),
    Trick("check-skips", "stickyctl/envoy/loader.py", "        skip = frozenset() if full else s.CHECK_SKIPS\n",
          "        skip = frozenset()\n", "eds"),
    Trick("session-configs-parsed-once", "stickyctl/envoy/model.py", "    found = r.sessions.get(key)\n",
          "    found = None\n", "noeds"),
    Trick("label-value-cached", "stickyctl/istio/manifests.py", "@functools.lru_cache(maxsize=4096)\n", "", "noeds"),
    Trick("sections", "stickyctl/envoy/model.py",
          "    parts = load_sections(path, builder.take, full=full, take_virtual_hosts=builder.take_virtual_hosts)\n",
          "    parts = None\n", "noeds"),
    Trick("vhosts-streamed", "stickyctl/envoy/model.py", "take_virtual_hosts=builder.take_virtual_hosts)",
          "take_virtual_hosts=None)", "noeds"),
)


def commands(n: int) -> dict[str, list[str]]:
    noeds, eds = DATA / f"dump-{n}-noeds.json", DATA / f"dump-{n}.json"
    svcs, renamed = DATA / f"services-{n}.json", DATA / f"services-{n}-renamed.json"
    for p in (noeds, eds, svcs, renamed):
        if not p.is_file():
            raise SystemExit(f"missing {p.name} in {DATA}: run `python benchmarks/gen_dump.py` first")
    check = [PY, "-c", RUN, "check"]
    return {
        "noeds": [*check, "-f", str(noeds), "--services", str(svcs), "-o", "json"],
        "eds": [*check, "-f", str(eds), "--services", str(svcs), "-o", "json"],
        "heavy": [*check, "-f", str(noeds), "--services", str(renamed), "-o", "json"],
        "sarif": [*check, "-f", str(noeds), "--services", str(renamed), "-o", "sarif"],
    }


def _copy(into: Path, trick: Trick | None) -> Path:
    """The package copied under ``into`` (with ``trick`` undone), byte-compiled as pip would."""
    import compileall

    shutil.copytree(ROOT / "stickyctl", into / "stickyctl", ignore=shutil.ignore_patterns("__pycache__"))
    if trick is not None:
        target = into / trick.path
        text = target.read_text()
        if text.count(trick.old) != 1:
            raise LookupError(f"{trick.name}: the text to undo is not found once in {trick.path}")
        target.write_text(text.replace(trick.old, trick.new))
    compileall.compile_dir(str(into / "stickyctl"), quiet=1)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", type=int, default=40000)
    ap.add_argument("tricks", nargs="*", help="names of the tricks to measure (default: all)")
    args = ap.parse_args()
    unknown = set(args.tricks) - {t.name for t in TRICKS}
    if unknown:
        raise SystemExit(f"unknown trick(s): {', '.join(sorted(unknown))}")
    cmds = commands(args.size)
    print("| trick | command | wall without / with | wall ratio | peak RSS ratio |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="stickyctl-ablate-") as tmp:
        base = _copy(Path(tmp) / "base", None)
        for i, trick in enumerate(t for t in TRICKS if not args.tricks or t.name in args.tricks):
            try:
                undone = _copy(Path(tmp) / f"undone-{i}", trick)
            except LookupError as exc:
                print(f"| {trick.name} | {trick.command} | {exc} | - | - |")
                continue
            c = compare_env(cmds[trick.command], {"PYTHONPATH": str(undone)}, {"PYTHONPATH": str(base)},
                            args.repeat)
            print(f"| {trick.name} | {trick.command} | {c.ours[0]:.2f} s / {c.base[0]:.2f} s | {c.wall_ratio:.2f}x "
                  f"| {c.rss_ratio:.2f}x |", flush=True)
            shutil.rmtree(undone)


if __name__ == "__main__":
    os.environ.pop("PYTHONPATH", None)
    main()
