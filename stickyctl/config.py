"""The project config file: ``[tool.stickyctl]`` in pyproject.toml, or ``.stickyctl.yaml`` / ``.yml``.

Found the way ruff finds its own: from the working directory up to the filesystem root, the first
directory holding ``.stickyctl.yaml``, ``.stickyctl.yml`` or a ``pyproject.toml`` *with a*
``[tool.stickyctl]`` table wins (in that order within one directory), and nothing is merged across
directories. ``--config PATH`` names the file instead; ``--isolated`` ignores every config file.
Command-line flags override the file (``--suppress`` adds to its list).

Keys (kebab-case, as in ruff's pyproject table)::

    [tool.stickyctl]
    failure-threshold = "warning"          # error | warning | info | none
    suppress = ["STK0601", "STK0401=*cluster:outbound|5000|v1|*"]
    cookie-label = "istio.io/persistent-session"
    header-label = "istio.io/persistent-session-header"
    output = "table"                       # any -o format

An unknown key or a bad value is a usage error (exit 2) naming the file and the key: a typo in a
CI gate's config must not silently loosen the gate.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stickyctl.catalog import CATALOG
from stickyctl.errors import UsageError

PYPROJECT = "pyproject.toml"
YAML_NAMES = (".stickyctl.yaml", ".stickyctl.yml")
SEARCH_ORDER = (*YAML_NAMES, PYPROJECT)
"""Within one directory, the dedicated files come before pyproject.toml (as ruff.toml does for ruff)."""

THRESHOLDS = ("error", "warning", "info", "none")
KEYS = ("failure-threshold", "suppress", "cookie-label", "header-label", "output")


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    """The file the settings came from; None when there was none (or --isolated)."""
    failure_threshold: str | None = None
    suppress: tuple[str, ...] = ()
    cookie_label: str | None = None
    header_label: str | None = None
    output: str | None = None

    @property
    def where(self) -> str:
        return describe(self.path) if self.path is not None else "no config file"


def describe(path: Path) -> str:
    shown = _shown(path)
    return f"{shown} [tool.stickyctl]" if path.suffix == ".toml" else shown


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"config {_shown(path)}: cannot read it: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config {_shown(path)}: not valid TOML: {exc}") from None


def _tool_table(document: Mapping[str, Any]) -> Any:
    tool = document.get("tool")
    return tool.get("stickyctl") if isinstance(tool, Mapping) else None


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"config {_shown(path)}: cannot read it: {exc}") from None
    try:
        # libyaml when present: a baseline of thousands of suppressions takes PyYAML's pure-Python
        # loader most of a second. Its error messages are worded differently: a file it refuses is
        # read again the pure-Python way, whose message is the one shown.
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "parse error"
            raise UsageError(f"config {_shown(path)}: not valid YAML: {first}") from None
    return {} if document is None else document


def discover(start: Path | None = None) -> Path | None:
    """The config file that applies in ``start`` (default: the working directory), or None."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        for name in SEARCH_ORDER:
            candidate = directory / name
            if not candidate.is_file():
                continue
            if name == PYPROJECT and _tool_table(_read_toml(candidate)) is None:
                continue  # a pyproject.toml without [tool.stickyctl] is not ours: keep looking up
            return candidate
    return None


def load(path: Path) -> Config:
    """Read and validate one config file (named by --config or found by ``discover``)."""
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    if path.suffix == ".toml":
        table = _tool_table(_read_toml(path))
        if table is None:
            raise UsageError(f"config {_shown(path)}: no [tool.stickyctl] table")
    elif path.suffix in (".yaml", ".yml"):
        table = _read_yaml(path)
    else:
        raise UsageError(f"--config {path}: expected pyproject.toml (or another .toml) or a .yaml/.yml file")
    return parse(table, path)


def parse(table: Any, path: Path) -> Config:
    where = describe(path)
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}: expected a table of settings, not {type(table).__name__}")
    unknown = sorted(str(k) for k in table if k not in KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    return Config(
        path=path,
        failure_threshold=_choice(table, "failure-threshold", THRESHOLDS, where),
        suppress=_suppressions(table.get("suppress"), where),
        cookie_label=_label(table, "cookie-label", where),
        header_label=_label(table, "header-label", where),
        output=_choice(table, "output", _formats(), where),
    )


def _formats() -> tuple[str, ...]:
    from stickyctl.report.render import FORMATS

    return FORMATS


def _choice(table: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise UsageError(f"{where}: {key} = {value!r}: expected one of {', '.join(allowed)}")
    return value


def _label(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise UsageError(f"{where}: {key} = {value!r}: expected a label key such as istio.io/persistent-session")
    return value


def _suppressions(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: suppress: expected a list of 'CODE' or 'CODE=GLOB' strings")
    from stickyctl.exitcodes import INPUT_CODES

    for entry in value:
        code = entry.partition("=")[0].strip().upper()
        if code not in CATALOG:
            raise UsageError(f"{where}: suppress {entry!r}: unknown check code {code!r} (see 'stickyctl checks')")
        if code in INPUT_CODES:
            raise UsageError(f"{where}: suppress {entry!r}: {code} means an input was not checked; "
                             "it cannot be suppressed")
    return tuple(value)


def resolve(explicit: str | None, *, isolated: bool) -> Config:
    """The settings for this run: ``--config PATH``, else the discovered file, else none."""
    if isolated:
        if explicit is not None:
            raise UsageError("--config and --isolated cannot be used together")
        return Config()
    if explicit is not None:
        return load(Path(explicit))
    found = discover()
    return load(found) if found is not None else Config()
