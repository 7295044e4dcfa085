"""Every command and option that reads something, over the bad-input corpus: never a traceback.

The corpus is tests/corpus/ (small hand-written hostile files) plus inputs derived at test time from
a dump a real Envoy recorded: truncations at many cut points, other encodings, deep nesting, wrong
types at known fields, oversized inputs, paths that are not files. Each one goes through every
command and option that reads it (``check -f`` in every ``-o`` format, ``--query``,
``--output-file``, ``--services``, ``--istiod``, stdin, ``decode --resolve -f``, ``why -f``), and
next to them: bad snapshots for ``check --from``, bad ``--out-dir``/kubeconfigs for ``dump``, bad
session values, addresses, codes, URLs, admin URLs and lab arguments.

For each case: the documented exit code, no traceback and no "internal error" anywhere, stderr one
line naming what and where (or click's usage block for a malformed command line), machine output
that still parses, no file half-written. A sample of the cases runs again as real processes.
The counts by kind are docs/security.md's figures (kept in sync by this test;
``STICKYCTL_WRITE_FIGURES=1`` rewrites them).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CASES, ROOT, Captured, invoke

CORPUS = Path(__file__).resolve().parent / "corpus"
HEALTHY = CASES / "pass-helloworld-header"
DUMP = HEALTHY / "dump.json"
SERVICES = HEALTHY / "services.yaml"
VALUE = "MTAuMjQ0LjEuNDo1MDAw"  # 10.244.1.4:5000
FORMATS = ("table", "wide", "json", "yaml", "sarif", "junit", "github")
PARSES = {"json": "json", "sarif": "json", "yaml": "yaml", "junit": "xml"}
SECURITY_MD = ROOT / "docs" / "security.md"
TOKEN = "t0k3n-corpus-kubeconfig-5e4d3c2b1a"
"""Planted in every kubeconfig of the corpus: no output may ever show it."""
PASSWORD = "pa55w0rd-corpus-userinfo"


@dataclass(frozen=True)
class Case:
    kind: str
    """What is wrong with the input (the figures in docs/security.md count cases by it)."""
    args: tuple[str, ...]
    exit: int
    """The documented exit status."""
    errors: int | None = None
    """Error lines on stderr; None: one, or none for exit 0."""
    where: str | None = None
    """Must appear in the error line (the file, the option)."""
    stdin: bytes | None = None
    env: tuple[tuple[str, str], ...] = ()
    usage_block: bool = False
    """A usage error the CLI framework finds (an unknown option, a missing value): one line that
    ends with a pointer to the command's -h."""
    stdout: str | None = None
    """json | yaml | xml: stdout must parse as that."""
    writes: str | None = None
    """A --output-file path that must hold a complete JSON report afterwards."""
    no_write: str | None = None
    """A path that must not exist afterwards."""

    @property
    def command(self) -> str:
        first = self.args[0] if self.args else ""
        known = ("check", "dump", "decode", "encode", "explain", "checks", "probe", "why", "lab")
        return first if first in known and self.args[1:] != ("extra",) else "(the command line)"

    def label(self) -> str:
        return f"[{self.kind}] stickyctl {' '.join(self.args)}"[:300]


# --- running ---------------------------------------------------------------------------------


def run_process(case: Case, home: Path) -> Captured:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "PYTEST", "STICKYCTL"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), NO_COLOR="1", COLUMNS="100", **dict(case.env))
    proc = subprocess.run([sys.executable, "-m", "stickyctl", *case.args], input=case.stdin or b"",
                          capture_output=True, env=env, cwd=home, timeout=60)
    return Captured(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def problems(case: Case, res: Captured) -> list[str]:
    """What is wrong with ``res`` for ``case`` (empty: as documented)."""
    found = []
    both = res.stdout + res.stderr
    if "Traceback" in both or "internal error" in both:
        found.append("a traceback / internal error")
    if res.exit_code != case.exit:
        found.append(f"exit {res.exit_code}, documented {case.exit}")
    for secret in (TOKEN, PASSWORD):
        if secret in both:
            found.append(f"shows the secret {secret}")
    if "\x1b" in both or "\x07" in both:  # color is off: any escape sequence came from an input
        found.append("a raw escape sequence reached the terminal")
    lines = res.stderr.splitlines()
    if case.usage_block:  # the framework's usage errors, in stickyctl's one style with a pointer to -h
        if not (len(lines) == 1 and lines[0].startswith("stickyctl: error: ") and lines[0].endswith(" -h')")):
            found.append(f"not one usage error line: {res.stderr!r}")
    else:
        errors = [li for li in lines if li.startswith("stickyctl: error: ")]
        others = [li for li in lines if not li.startswith(("stickyctl: error: ", "stickyctl: warning: "))]
        want = case.errors if case.errors is not None else (0 if case.exit == 0 else 1)
        if others or len(errors) != want:
            found.append(f"stderr is not {want} error line(s): {res.stderr!r}")
        if case.where and want and not all(case.where in li for li in errors):
            found.append(f"the error does not name {case.where!r}: {res.stderr!r}")
    if case.stdout == "empty" and res.stdout:
        found.append(f"stdout is not empty: {res.stdout[:200]!r}")
    elif case.stdout and case.stdout != "empty" and not problems_parse(case.stdout, res.stdout):
        found.append(f"stdout is not {case.stdout}: {res.stdout[:200]!r}")
    if case.writes:
        path = Path(case.writes)
        try:
            doc = json.loads(path.read_text())
            assert doc["summary"]["exit_code"] == case.exit
        except (OSError, ValueError, KeyError, AssertionError):
            found.append(f"{path} is not the complete report")
        leftovers = [p.name for p in path.parent.glob(f".{path.name}.*")]
        if leftovers:
            found.append(f"temporary files left: {leftovers}")
    if case.no_write and Path(case.no_write).exists():
        found.append(f"{case.no_write} was written")
    return found


def problems_parse(kind: str, text: str) -> bool:
    try:
        if kind == "json":
            json.loads(text)
        elif kind == "yaml":
            yaml.safe_load(text)
        elif kind == "xml":
            ET.fromstring(text)
        return True
    except (ValueError, yaml.YAMLError, ET.ParseError):
        return False


# --- the corpus: files ---------------------------------------------------------------------------


@dataclass
class BadFile:
    kind: str
    path: Path
    heavy: bool = False
    """Slow to refuse (deep YAML, alias bombs, big): fewer option combinations."""
    stdin_exit: int | None = 1
    """Exit of `decode -` fed this file (None: not fed: a directory, a device)."""
    env: tuple[tuple[str, str], ...] = ()


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = json.loads(json.dumps(doc))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _section(doc: dict[str, Any], short: str) -> int:
    return next(i for i, c in enumerate(doc["configs"]) if c["@type"].endswith("." + short))


def derived_files(base: Path) -> list[BadFile]:
    """Inputs derived from the recorded healthy dump, each one a config dump no longer."""
    data = DUMP.read_bytes()
    doc = json.loads(data)
    out: list[BadFile] = []

    def write(kind: str, name: str, content: bytes, **kw: Any) -> None:
        p = base / kind.replace(" ", "-") / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
        out.append(BadFile(kind, p, **kw))

    for cut in (1, 2, 17, 100, 1000, 4096, len(data) // 4, len(data) // 2, 3 * len(data) // 4, len(data) - 4):
        write("truncated dump", f"cut-{cut}.json", data[:cut])
    text = yaml.safe_dump(doc, sort_keys=False).encode()
    for frac in (0.001, 0.3):  # a YAML dump cut inside a mapping: no longer a valid document
        cut = int(len(text) * frac)
        cut = text.rfind(b"\n", 0, cut) + 1 + 2  # two bytes into a line: `- ` / `  ` becomes a broken token
        write("truncated dump", f"cut-{frac}.yaml", text[:cut] + b"\"unclosed")
    write("truncated dump", "bom-cut.json", b"\xef\xbb\xbf" + data[:5000])

    as_text = data.decode()
    write("wrong encoding", "utf-16-le-bom.json", b"\xff\xfe" + as_text.encode("utf-16-le"))
    write("wrong encoding", "utf-16-be-bom.json", b"\xfe\xff" + as_text.encode("utf-16-be"))
    write("wrong encoding", "utf-16-le.json", as_text.encode("utf-16-le"))
    write("wrong encoding", "utf-32.json", as_text.encode("utf-32"))
    write("wrong encoding", "nul-after-4k.json", data[:6000] + b"\x00" + data[6000:])
    i = data.index(b"helloworld")
    write("wrong encoding", "latin1-name.json", data[:i] + "h\u00e9lloworld".encode("latin-1") + data[i + 10:])
    write("wrong encoding", "gzip.json", gzip.compress(data[:20000]), stdin_exit=1)
    write("wrong encoding", "base64.json", base64.b64encode(data[:3000]))

    deep = 100_000
    write("deep nesting", "arrays.json", b'{"configs": ' + b"[" * deep + b"]" * deep + b"}")
    write("deep nesting", "objects.json", b'{"a":' * deep + b"1" + b"}" * deep)
    write("deep nesting", "flow.yaml", b"configs: " + b"[" * 5000 + b"]" * 5000 + b"\n", heavy=True)
    block = b"".join(b"  " * d + b"- \n" for d in range(0, 3000))
    write("deep nesting", "block.yaml", b"configs:\n" + block, heavy=True)
    listeners = _section(doc, "ListenersConfigDump")
    placed = json.dumps(_set(doc, ("configs", listeners, "dynamic_listeners", 0, "active_state", "listener",
                                   "filter_chains"), "@DEEP@"))
    write("deep nesting", "inside-dump.json", placed.replace('"@DEEP@"', "[" * 50_000 + "]" * 50_000).encode())

    lst = ("configs", listeners, "dynamic_listeners", 0, "active_state", "listener")
    routes = ("configs", _section(doc, "RoutesConfigDump"), "dynamic_route_configs", 0, "route_config")
    clusters = ("configs", _section(doc, "ClustersConfigDump"), "dynamic_active_clusters", 0, "cluster")
    for name, path, value in (
        ("http-filters-string", (*lst, "filter_chains", 0, "filters", 0, "typed_config", "http_filters"), "oops"),
        ("filter-chains-object", (*lst, "filter_chains"), {"a": 1}),
        ("filters-number", (*lst, "filter_chains", 0, "filters"), 5),
        ("virtual-hosts-number", (*routes, "virtual_hosts"), 7),
        ("routes-of-numbers", (*routes, "virtual_hosts", 0, "routes"), [1, 2]),
        ("per-filter-config-list", (*routes, "virtual_hosts", 0, "routes", 0, "typed_per_filter_config"), []),
        ("override-status-string", (*clusters, "common_lb_config"), {"override_host_status": "HEALTHY"}),
        ("listener-name-object", (*lst, "name"), {"x": 1}),
        ("dynamic-listeners-string", ("configs", listeners, "dynamic_listeners"), "none"),
    ):
        write("wrong type", f"{name}.json", json.dumps(_set(doc, path, value)).encode())

    big = base / "size" / "sparse-1GiB.json"
    big.parent.mkdir(parents=True, exist_ok=True)
    with big.open("wb") as fh:
        fh.truncate((1 << 30) + 1)  # sparse: refused from its size, never read
    out.append(BadFile("oversized", big, stdin_exit=None))
    limited = (("STICKYCTL_MAX_INPUT_BYTES", str(len(data) + 100)),)  # the good dump still fits
    write("oversized", "over-limit.json", data + b" " * 200, env=limited, stdin_exit=3)
    out.append(BadFile("oversized", Path("/dev/zero"), stdin_exit=None))

    missing = base / "path" / "missing.json"
    missing.parent.mkdir(parents=True, exist_ok=True)
    out.append(BadFile("not a file", base / "path", stdin_exit=None))
    out.append(BadFile("not a file", missing, stdin_exit=None))
    out.append(BadFile("not a file", Path("/dev/null"), stdin_exit=None))
    dangling = base / "path" / "dangling.json"
    dangling.symlink_to(base / "path" / "nowhere.json")
    out.append(BadFile("not a file", dangling, stdin_exit=None))
    loop = base / "path" / "loop.json"
    loop.symlink_to(loop)
    out.append(BadFile("not a file", loop, stdin_exit=None))
    write("not a file", "new\nline.json", b"{")
    write("not a file", "esc\x1b[2Jname.json", b"{")
    return out


def corpus_files() -> list[BadFile]:
    heavy = {"alias-bomb.yaml", "alias-bomb-mapping.yaml"}
    out = []
    for p in sorted(CORPUS.iterdir()):
        if p.name == "README.md":
            continue
        empty = p.name in ("empty.json", "whitespace-only.yaml")
        out.append(BadFile("hostile file", p, heavy=p.name in heavy, stdin_exit=2 if empty else 1))
    return out


def wrong_place(path: Path, limit: int = 8 << 20) -> tuple[bool, bool]:
    """(a kubeconfig, an Envoy config dump): inputs that are plainly another kind of input. Given
    where they do not belong they are usage errors (exit 2) naming the option they belong to: a
    kubeconfig anywhere a dump or manifest is read, a dump (valid JSON whose top level has
    ``configs``, however broken inside) in --services/--istiod. Text that does not even parse, or
    is over the size limit, is an unreadable input (exit 3) wherever it is given."""
    import msgspec

    if not path.is_file() or path.stat().st_size > limit:
        return False, False
    data = path.read_bytes()
    try:
        if path.suffix == ".json":
            doc = msgspec.json.decode(data.decode("utf-8"))
        else:
            doc = yaml.safe_load(data.decode("utf-8"))
    except (ValueError, yaml.YAMLError, RecursionError, msgspec.DecodeError):
        return False, False
    if not isinstance(doc, dict):
        return False, False
    kubeconfig = doc.get("kind") == "Config" and doc.get("apiVersion") == "v1" and "metadata" not in doc
    return kubeconfig, path.suffix == ".json" and "configs" in doc


def file_cases(files: list[BadFile], out_dir: Path, has_why: bool) -> list[Case]:
    cases: list[Case] = []
    good = ("-f", str(DUMP))
    for n, bad in enumerate(files):
        f = str(bad.path)
        shown = f.replace("\n", "\\n").replace("\x1b", "\\x1b")
        env = bad.env
        kubeconfig, dump = wrong_place(bad.path, int(dict(env).get("STICKYCTL_MAX_INPUT_BYTES", 8 << 20)))
        as_dump = 2 if kubeconfig else 3  # exit when read where a dump belongs
        as_manifest = 2 if kubeconfig or dump else 3  # … where manifests belong
        # A usage error prints no report: stdout is empty, and no --output-file is written.
        dump_out = {"json": "json"} if as_dump == 3 else {}
        if bad.heavy:  # slow to refuse by design (seconds of YAML parsing): the file options only
            cases.append(Case(bad.kind, ("check", "-f", f, "-o", "json"), as_dump, where=shown, env=env,
                              stdout=dump_out.get("json", "empty")))
            cases.append(Case(bad.kind, ("check", *good, "--services", f), as_manifest, where=shown, env=env))
            continue
        for fmt in FORMATS:
            cases.append(Case(bad.kind, ("check", "-f", f, "-o", fmt), as_dump, where=shown, env=env,
                              stdout=PARSES.get(fmt) if as_dump == 3 else "empty"))
        cases.append(Case(bad.kind, ("check", "-f", f, "-f", str(DUMP), "-o", "json", "--query", "findings[].code"),
                          as_dump, where=shown, env=env, stdout=dump_out.get("json", "empty")))
        report = out_dir / f"report-{n}.json"
        if as_dump == 3:
            cases.append(Case(bad.kind, ("check", "-f", f, "--output-file", f"json={report}", "-o", "github"), 3,
                              where=shown, env=env, writes=str(report)))
        else:
            cases.append(Case(bad.kind, ("check", "-f", f, "--output-file", f"json={report}", "-o", "github"), 2,
                              where=shown, env=env, no_write=str(report)))
        cases.append(Case(bad.kind, ("check", *good, "--services", f), as_manifest, where=shown, env=env))
        cases.append(Case(bad.kind, ("check", *good, "--services", str(SERVICES), "--istiod", f, "-o", "yaml"),
                          as_manifest, where=shown, env=env, stdout="yaml" if as_manifest == 3 else "empty"))
        cases.append(Case(bad.kind, ("decode", VALUE, "--resolve", "-f", f), as_dump, where=shown, env=env))
        if has_why:
            cases.append(Case(bad.kind, ("why", "--url", "http://gw/hello", "-f", f), as_dump, where=shown, env=env))
        if bad.stdin_exit is not None:
            data = bad.path.read_bytes()
            cases.append(Case(bad.kind, ("check", "-f", "-", "-o", "sarif"), as_dump, where="stdin", stdin=data,
                              env=env, stdout="json" if as_dump == 3 else "empty"))
            if len(data) < 32 << 10:  # decode searches every token of a transcript: small ones suffice
                cases.append(Case(bad.kind, ("decode", "-"), bad.stdin_exit, stdin=data, env=env))
    return cases


# --- the corpus: everything else ------------------------------------------------------------------


def snapshot_dirs(base: Path) -> list[Case]:
    """`check --from DIR` over broken snapshots: one line naming the directory (or the pod), exit 3."""
    data = DUMP.read_bytes()
    manifest = ("kind: StickyctlSnapshot\nversion: 1\nclusters: [{context: c, server: 'http://x'}]\ntargets:\n"
                "- {label: pod/ns/p, context: c, namespace: ns, pod: p, file: proxies/c/ns/p.json}\n")
    empty_list = "apiVersion: v1\nkind: List\nitems: []\n"

    def make(name: str, *, snapshot: str | bytes = manifest, objects: str | bytes = empty_list,
             dump: bytes | None = data) -> Path:
        d = base / name
        (d / "proxies" / "c" / "ns").mkdir(parents=True)
        for file, content in (("snapshot.yaml", snapshot), ("objects.yaml", objects), ("istiod.yaml", empty_list)):
            (d / file).write_bytes(content.encode() if isinstance(content, str) else content)
        if dump is not None:
            (d / "proxies" / "c" / "ns" / "p.json").write_bytes(dump)
        return d

    bomb = (CORPUS / "alias-bomb.yaml").read_text() + "items: [*a9]\n"
    cases = [
        (make("no-such-dir").parent / "absent", "no such directory"),
        (base / "no-such-dir" / "proxies", "snapshot.yaml"),
        (make("empty-manifest", snapshot=""), "snapshot.yaml"),
        (make("utf16-manifest", snapshot=manifest.encode("utf-16")), "snapshot.yaml"),
        (make("nul-manifest", snapshot=b"kind: StickyctlSnapshot\x00"), "snapshot.yaml"),
        (make("other-kind", snapshot="kind: Deployment\nversion: 1\n"), "not a stickyctl snapshot"),
        (make("version-2", snapshot=manifest.replace("version: 1", "version: 2")), "version"),
        (make("version-string", snapshot=manifest.replace("version: 1", "version: '1'")), "version"),
        (make("version-true", snapshot=manifest.replace("version: 1", "version: true")), "version"),
        (make("targets-mapping", snapshot="kind: StickyctlSnapshot\nversion: 1\ntargets: {a: 1}\n"), "targets"),
        (make("clusters-number", snapshot="kind: StickyctlSnapshot\nversion: 1\nclusters: 5\n"), "clusters"),
        (make("target-types", snapshot=manifest.replace("label: pod/ns/p", "label: [1]")), "targets[0].label"),
        (make("target-missing-fields", snapshot="kind: StickyctlSnapshot\nversion: 1\ntargets: [{file: x}]\n"),
         "targets[0]"),
        (make("notes-number", snapshot=manifest + "notes: 5\n"), "notes"),
        (make("label-keys-list", snapshot=manifest + "label_keys: [1]\n"), "label_keys"),
        (make("custom-tag", snapshot=manifest + "x: !!python/object/apply:os.system [true]\n"), "snapshot.yaml"),
        (make("path-traversal", snapshot=manifest.replace("proxies/c/ns/p.json", "../../../../etc/passwd")),
         "outside the snapshot"),
        (make("absolute-path", snapshot=manifest.replace("proxies/c/ns/p.json", "/etc/passwd")),
         "outside the snapshot"),
        (make("objects-bomb", objects=bomb), "objects.yaml"),
        (make("objects-binary", objects=b"\xff\xfe\x00\x01"), "objects.yaml"),
        (make("objects-list", objects="[1, 2]"), "objects.yaml"),
        (make("objects-items-string", objects="items: nope\n"), "objects.yaml"),
        (make("objects-deep", objects="items: " + "[" * 5000 + "]" * 5000), "objects.yaml"),
        (make("dump-truncated", dump=data[:300]), "p.json"),
        (make("dump-missing", dump=None), "p.json"),
        (make("dump-latin1", dump=data.replace(b"helloworld", "h\u00e9llo".encode("latin-1"), 1)), "p.json"),
        (make("dump-no-configs", dump=b'{"x": 1}'), "p.json"),
        (make("dump-deep", dump=b"[" * 100_000 + b"]" * 100_000), "p.json"),
    ]
    dir_as_dump = make("dump-is-dir", dump=None)
    (dir_as_dump / "proxies" / "c" / "ns" / "p.json").mkdir()
    cases.append((dir_as_dump, "p.json"))
    link_out = make("dump-symlink-out", dump=None)
    (link_out / "proxies" / "c" / "ns" / "p.json").symlink_to("/etc/passwd")
    cases.append((link_out, "outside the snapshot"))
    fifo = make("objects-fifo")
    (fifo / "objects.yaml").unlink()
    os.mkfifo(fifo / "objects.yaml")
    cases.append((fifo, "objects.yaml"))
    # A snapshot that cannot be read is the whole input: one line, exit 3, and no document on stdout; a
    # pod's dump that cannot be read is that target's STK0001 in the report.
    return [Case("bad snapshot", ("check", "--from", str(d), "-o", "json"), 3, where=where,
                 stdout="json" if where == "p.json" else "empty") for d, where in cases]


def kubeconfigs(base: Path) -> list[tuple[Path, int, str]]:
    """(kubeconfig, exit of a live check/dump with it, what the error names): every one carries the
    planted TOKEN/PASSWORD, which no message may show."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user = {"token": TOKEN, "password": PASSWORD, "username": "ci"}
    ctx = [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "istio-ingress"}}]

    def cfg(name: str, doc: Any, raw: bytes | None = None) -> Path:
        p = base / name
        p.write_bytes(raw if raw is not None else yaml.safe_dump(doc).encode())
        return p

    def config(server: str, **extra: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Config", "current-context": "c", "contexts": ctx,
                "clusters": [{"name": "c", "cluster": {"server": server}}], "users": [{"name": "u", "user": user}],
                **extra}

    closed = f"http://127.0.0.1:{port}"
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh",
                          "args": ["-c", 'echo "login failed for key $API_KEY" >&2; exit 1'],
                          "env": [{"name": "API_KEY", "value": TOKEN}]}}
    failing_plugin = config(closed)
    failing_plugin["users"] = [{"name": "u", "user": exec_user}]
    return [
        (base / "absent-kubeconfig", 2, "no such file"),
        (cfg("garbage", None, f"token: {TOKEN}\n  - [unbalanced".encode()), 3, "kubeconfig"),
        (cfg("binary", None, b"\xff\xfe\x00" + TOKEN.encode()), 3, "kubeconfig"),
        (cfg("no-current-context", {k: v for k, v in config(closed).items() if k != "current-context"}), 3,
         "context"),
        (cfg("wrong-types", {"apiVersion": "v1", "kind": "Config", "current-context": "c", "contexts": 5,
                             "users": [{"name": "u", "user": {"token": TOKEN}}]}), 3, "kubeconfig"),
        (cfg("bad-ca-data", config(closed.replace("http", "https"), **{"clusters": [{"name": "c", "cluster": {
            "server": closed.replace("http", "https"), "certificate-authority-data": "not base64!"}}]})), 3, "c"),
        (cfg("closed-port", config(closed)), 3, f"127.0.0.1:{port}"),
        (cfg("userinfo-server", config(f"http://ci:{PASSWORD}@127.0.0.1:{port}")), 3, f"127.0.0.1:{port}"),
        (cfg("failing-exec-plugin", failing_plugin), 3, "context c"),
    ]


def escape_cases(base: Path) -> list[Case]:
    """A dump whose names carry terminal escape sequences, BEL and line breaks (a hostile or broken
    control plane): every format shows them escaped, never raw, and the report still parses."""
    source = CASES / "STK0401-no-draining" / "dump.json"
    if not source.is_file():
        return []
    # Still <name>.<namespace>.svc.<domain>: a Kubernetes Service's host, whose draining STK0401 judges.
    hostile = "hello\\u001b]0;owned\\u0007\\u001b[2J\\u202eworld.ns\\r\\n::error::INJECTED.svc.cluster.local"
    path = base / "escapes.json"
    base.mkdir(parents=True, exist_ok=True)
    path.write_text(source.read_text().replace("helloworld.helloworld.svc.cluster.local", hostile))
    cases = [Case("control characters in names", ("check", "-f", str(path), "-o", fmt, "--failure-threshold",
                                                  "warning"), 1, errors=0, stdout=PARSES.get(fmt))
             for fmt in FORMATS]
    cases.append(Case("control characters in names", ("decode", "x-session: \x1b]0;owned\x07MTAu\r"), 1))
    return cases


def other_cases(base: Path, has_why: bool) -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    args: tuple[str, ...]  # the loops below give it command lines of every length
    good = ("check", "-f", str(DUMP))
    out = base / "out"
    out.mkdir(parents=True)
    (out / "a-directory").mkdir()
    a_file = out / "a-file"
    a_file.write_text("x")

    # --query: a usage error before anything is read or written
    for expr in ("foo(", "[[", "a.", "x ||| y", "`bad", "findings[?", "&&"):
        add(Case("bad --query", (*good, "-o", "json", "--query", expr, "--output-file", f"json={out / 'q.json'}"), 2,
                 where="--query", no_write=str(out / "q.json")))
    add(Case("bad --query", (*good, "--query", "findings"), 2, where="--query"))
    add(Case("bad --query", (*good, "-o", "sarif", "--query", "findings"), 2, where="--query"))
    add(Case("bad --query", (*good, "-o", "json", "--query", "abs(findings)"), 2, where="--query"))

    # --output-file
    for spec, _where in (("bogus", "FORMAT=PATH"), ("xml=x.xml", "unknown format"), ("json=", "FORMAT=PATH"),
                        ("=out.json", "unknown format"), ("json=-", "stdout"),
                        (f"json={out / 'a-directory'}", "a-directory"), (f"json={out / 'nope' / 'x.json'}", "nope"),
                        (f"json={a_file}/x.json", "a-file")):
        add(Case("bad --output-file", (*good, "--output-file", spec), 2, where="--output-file"))
    add(Case("bad --output-file", (*good, "--output-file", f"json={out / 'twice'}", "--output-file",
                                   f"sarif={out / 'twice'}"), 2, where="twice", no_write=str(out / "twice")))
    add(Case("bad --output-file", (*good, "-o", "bogus", "--output-file", f"json={out / 'never.json'}"), 2,
             no_write=str(out / "never.json")))

    # check's other options
    for args in (("--failure-threshold", "bogus"), ("--suppress", "STK0002"), ("--suppress", "STK9999"),
                 ("--suppress", ""), ("--suppress", "=*"), ("--color", "sometimes"), ("--timeout", "0"),
                 ("--timeout", "-1"), ("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "1e300"),
                 ("-f", "-", "--services", "-"), ("--sample", "nope"), ("--config", str(out / "absent.yaml")),
                 ("--config", str(CORPUS / "tabs.yaml")), ("--config", str(out / "a-directory")),
                 ("--config", str(CORPUS / "boolean-keys.yaml")), ("--config", str(CORPUS / "alias-bomb.yaml")),
                 ("--config", str(CORPUS / "nul-bytes.json")), ("--isolated", "--config", str(SERVICES)),
                 ("--from", str(out)), ("-n", "istio-ingress"), ("--context", "x"), ("-o", "xml")):
        add(Case("bad check option", (*good, *args), 2))
    for args in (("--timeout", "abc"), ("--bogus",), ("-o",), ("--failure-threshold",)):
        add(Case("bad check option", (*good, *args), 2, usage_block=True))

    # --admin-url
    for url in ("ftp://127.0.0.1/", "http://[::1", "http://127.0.0.1:99999", "", "http://", "http://h/?x=1",
                "http://h/#x", "http://a b/", "gopher://h", "http://127.0.0.1:0"):
        add(Case("bad admin URL", ("check", "--admin-url", url), 2, where="--admin-url"))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    add(Case("bad admin URL", ("check", "--admin-url", f"http://ci:{PASSWORD}@127.0.0.1:{port}", "-o", "json"), 3,
             where="***@127.0.0.1", stdout="json"))
    add(Case("bad admin URL", ("check", "--admin-url", f"127.0.0.1:{port}", "--timeout", "2"), 3,
             where=f"127.0.0.1:{port}"))
    add(Case("bad admin URL", ("check", "--admin-url", f"http://127.0.0.1:{port}", "--timeout", "nan"), 2,
             where="--timeout"))

    # dump --out-dir (checked before the cluster is read) and kubeconfigs, for dump, check and decode --resolve
    kc_dir = base / "kubeconfigs"
    kc_dir.mkdir()
    configs = kubeconfigs(kc_dir)
    usable = str(configs[-3][0])  # a parseable kubeconfig whose server is down
    nonempty = out / "nonempty"
    nonempty.mkdir()
    (nonempty / "keep").write_text("mine")
    for target, where in ((a_file, "not a directory"), (nonempty, "not empty"), (out / "nope" / "snap", "nope"),
                          (a_file / "snap", "a-file")):
        add(Case("bad --out-dir", ("dump", "--out-dir", str(target), "--kubeconfig", usable), 2, where=where))
    for args in (("--timeout", "nan"), ("--concurrency", "0"), ("--via", "carrier-pigeon"), ("-A", "--pod", "x"),
                 ("--proxy-admin-port", "0"), ("-A", "-n", "x"), ("--pod", "a", "-l", "x=y")):
        add(Case("bad dump option", ("dump", "--out-dir", str(out / "snap"), "--kubeconfig", usable, *args), 2,
                 no_write=str(out / "snap")))
    for kc, code, where in configs:
        add(Case("bad kubeconfig", ("dump", "--out-dir", str(out / "snap"), "--kubeconfig", str(kc), "--timeout",
                                    "2"), code, where=where, no_write=str(out / "snap")))
        add(Case("bad kubeconfig", ("check", "-n", "istio-ingress", "--kubeconfig", str(kc), "--timeout", "2"), code,
                 where=where))
        add(Case("bad kubeconfig", ("decode", VALUE, "--resolve", "--kubeconfig", str(kc), "--timeout", "2"), code,
                 where=where))
        if has_why:
            add(Case("bad kubeconfig", ("why", "--url", "http://gw/hello", "-n", "istio-ingress", "--kubeconfig",
                                        str(kc), "--timeout", "2"), code, where=where))
    for command in (("check", "-n", "x"), ("decode", VALUE, "--resolve"),
                    *((("why", "--url", "http://gw/", "-n", "x"),) if has_why else ())):
        for value in ("nan", "inf", "0", "-1"):
            add(Case("bad kubeconfig", (*command, "--kubeconfig", usable, "--timeout", value), 2, where="--timeout"))

    # decode: values Envoy would ignore (exit 1, one line), and a bad command line (2)
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    for value in ("", "%%%", "MTAuMC4wLjE6ODA", VALUE + "!!", VALUE[:-1], "MTAuMC4wLjE6ODB=", "x" * 100_000,
                  b64("hello"), b64("10.0.0.1:0"), b64("[fd00::1]"), b64("fd00::1:80"), b64("127.0.0.012:80"),
                  b64("10.0.0.1:" + "9" * 5000), "\x1b[2J" + VALUE, "\u202e" + VALUE, VALUE + ";UV:%%",
                  "set-cookie: sticky=", "Cookie: a=b; c", "x-session: \x00", "\ud800"):
        add(Case("bad session value", ("decode", value), 1))
    for stdin in (b"\xff\xfe\x00\x01" * 100, b"< HTTP/1.1 200 OK\n< set-cookie: s=\"\"\n", b"\n".join([b"x"] * 10_000)):
        add(Case("bad session value", ("decode", "-"), 1, stdin=stdin))
    add(Case("bad session value", ("decode", "-"), 3, stdin=b"MTAu" * 2000,
             env=(("STICKYCTL_MAX_INPUT_BYTES", "1000"),), where="stdin"))
    for args, usage in ((("-",), False), (("-", "-"), False), ((VALUE, "-f", str(DUMP)), False),
                        ((VALUE, "-n", "x"), False), ((VALUE, "--context", "x"), False), ((VALUE, "-o", "xml"), True),
                        ((VALUE, "--bogus"), True), ((), False), ((VALUE, "--resolve", "-f", str(DUMP), "-o", "csv"),
                                                                     True)):
        add(Case("bad decode option", ("decode", *args), 2, usage_block=usage))

    # encode
    for address in ("", "1.2.3.4", "1.2.3.4:0", ":80", "[::1]", "[::1]:", "host:80", "999.1.1.1:80", "1.2.3.4:80x",
                    "[fe80::1%eth0]:80", "1.2.3.4:65536", "1.2.3.4:-1", "fd00::1:80", "\x1b[2J:80"):
        add(Case("bad address", ("encode", address), 2, where=None))
    for args, usage in ((("1.2.3.4:80", "--ttl", "5"), False), (("1.2.3.4:80", "--cookie", "--ttl", "-1"), False),
                        (("1.2.3.4:80", "--cookie", "--ttl", str(2**64)), False),
                        (("1.2.3.4:80", "--cookie", "--ttl", "nan"), True), (("1.2.3.4:80", "-o", "xml"), True),
                        ((), True)):
        add(Case("bad address", ("encode", *args), 2, usage_block=usage))

    # explain
    for text in ("XYZ", "STK9999", "STK", "../../etc/passwd", "STK03O1", "S" * 10_000, "", "\x1b[2J"):
        add(Case("bad check code", ("explain", text), 2))
    add(Case("bad check code", ("explain",), 2, usage_block=True))

    # why
    if has_why:
        d = ("-f", str(DUMP))
        for args, where in (
            (("--url", "ftp://gw/hello", *d), "--url"), (("--url", "http://gw/he llo", *d), "--url"),
            (("--url", "http://[::1", *d), "--url"), (("--url", "http://gw:99999/", *d), "--url"),
            (("--url", "", *d), "--url"), (("--url", "http://gw/", *d, "-H", "no-colon"), "--header"),
            (("--url", "http://gw/", *d, "-b", "novalue"), "--cookie"),
            (("--url", "http://gw/", *d, "-X", "GE T"), "-X"),
            (("--url", "http://gw/", *d, "-o", "xml"), "-o"),
            (("--url", "http://gw/", *d, "--listener", "nope"), "nope"),
            (("--url", "http://gw/", *d, "--admin-url", "http://127.0.0.1:1"), "one way"),
            (("--url", "http://gw/", *d, "-n", "istio-ingress"), "not with -f"),
            (("--url", "http://gw/", *d, "--timeout", "0"), "--timeout"),
            (("--url", "http://gw/", "--admin-url", "ftp://x"), "--admin-url"),
            (("--url", "http://gw/", "--admin-url", "http://127.0.0.1:1", "--timeout", "nan"), "--timeout"),
            (("--url", "http://gw/", "-f", "-", "-f", "-"), "stdin"),
            (("--url", "http://gw/", *d, "--color", "sometimes"), "--color"),
        ):
            add(Case("bad why request", ("why", *args), 2, where=where))
        add(Case("bad why request", ("why", "--url", "http://gw/", "--admin-url", f"http://ci:{PASSWORD}@127.0.0.1:{port}",
                                     "--timeout", "2"), 3, where="***@127.0.0.1"))
        add(Case("bad why request", ("why", "-f", str(DUMP)), 2, usage_block=True))
        # No -f, --admin-url or -n and no kubeconfig: a usage error, as for `check`.
        add(Case("bad why request", ("why", "--url", "http://gw/"), 2, where="none was found"))

    # probe
    for url in ("ftp://127.0.0.1/", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)", "data:,x", "http:/x",
                "http://", "//127.0.0.1/x", "127.0.0.1:80", "http://[::1", "http://a:99999/", "http://a:-1/",
                "http://a:port/", "http://a b/", "http://x/\r\nHost: evil", "http://a:0/", "http://\x1b[2J/"):
        add(Case("bad probe URL", ("probe", url), 2))
    for url in (f"http://ci:{PASSWORD}@127.0.0.1:{port}/hello", f"HTTP://127.0.0.1:{port}/",
                f"https://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/" + "a" * 10_000):
        add(Case("bad probe URL", ("probe", url, "--count", "1", "--baseline", "0", "--timeout", "2"), 3,
                 where="127.0.0.1"))
    probe = ("probe", "http://127.0.0.1:1/")
    for args in (("--count", "0"), ("--count", "5000"), ("--count", "-1"), ("--rate", "0"), ("--rate", "nan"),
                 ("--rate", "inf"), ("--rate", "5000"), ("--timeout", "0"), ("--timeout", "nan"), ("--timeout", "301"),
                 ("--sessions", "0"), ("--sessions", "1000", "--count", "1000"), ("--keys", "0", "--hash-header", "x"),
                 ("--baseline", "-1"), ("--baseline", "5000"), ("--header", "a", "--cookie", "b"), ("--session", VALUE),
                 ("--expect", "maybe"), ("--backend-from", "body"), ("--backend-from", "regex:("), ("-H", "no colon"),
                 ("-H", "a: b\r\nc: d"), ("-o", "xml"), ("--hash-header", "x", "--header", "y"),
                 ("--compare", str(out / "absent.json")), ("--compare", str(CORPUS / "html-page.html")),
                 ("--compare", str(CORPUS / "nul-bytes.json")), ("--compare", str(CORPUS / "list-of-numbers.json"))):
        add(Case("bad probe option", (*probe, *args), 2))
    add(Case("bad probe option", (*probe, "--compare", str(out / "a-directory")), 2, where="a-directory"))
    add(Case("bad probe option", (*probe, "--count", "x"), 2, usage_block=True))

    # lab: refused before anything starts
    state = ("--state-dir", str(out / "lab"))
    for args in (("up", "--replicas", "0"), ("up", "--replicas", "101"), ("up", "--mode", "weird"),
                 ("up", "--break", "STK9999"), ("up", "--break", ""), ("up", "--timeout", "0"),
                 ("up", "--timeout", "nan"), ("up", "--timeout", "inf"), ("up", "-o", "xml"),
                 ("up", "--state-dir", str(a_file)), ("up", "--state-dir", str(a_file / "sub")),
                 ("status", "--state-dir", str(a_file)), ("down", "-o", "xml")):
        add(Case("bad lab arguments", ("lab", *args, *([] if "--state-dir" in args else state)), 2))
    add(Case("bad lab arguments", ("lab", "breaks", "-o", "xml"), 2))
    for args in (("status",), ("scale", "3"), ("drain", "helloworld-v1"), ("kill", "x"), ("scale", "0")):
        add(Case("bad lab arguments", ("lab", *args, *state), 3, where="no lab is running"))
    for args in (("scale", "-1"), ("scale", "x"), ("drain",), ("up", "--replicas", "many"), ("bogus",)):
        add(Case("bad lab arguments", ("lab", *args, *state), 2, usage_block=True))

    # the command line itself
    for args in (("bogus",), ("--bogus",), ("check", "--", "x"), ("checks", "extra")):
        add(Case("bad command line", args, 2, usage_block=True))
    return cases


# --- the test ----------------------------------------------------------------------------------------


def has_command(name: str) -> bool:
    from stickyctl.cli import app as appmod

    full = getattr(appmod, "full_app", None)
    app = full() if callable(full) else appmod.app
    return any(c.name == name for c in app.registered_commands)


@dataclass
class Corpus:
    cases: list[Case]
    base: Path
    skipped: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    if not DUMP.is_file():
        pytest.skip("fixtures not recorded")
    base = tmp_path_factory.mktemp("corpus")
    has_why = has_command("why")
    files = corpus_files() + derived_files(base / "files")
    out = base / "reports"
    out.mkdir()
    cases = [*file_cases(files, out, has_why), *snapshot_dirs(base / "snapshots"), *escape_cases(base / "escapes"),
             *other_cases(base / "other", has_why)]
    yield Corpus(cases, base, [] if has_why else ["why (the command is absent)"])


@pytest.fixture
def quiet_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ~/.kube/config, $KUBECONFIG, config file or proxy of this machine leaks into a case."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HTTPS_PROXY", "https_proxy",
                "HTTP_PROXY", "http_proxy", "STICKYCTL_MAX_INPUT_BYTES", "STICKYCTL_DEBUG", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """typer builds the click command from the functions' signatures on every call (~10 ms): build
    it once per set of registered commands, so 1,400 in-process runs take seconds, not a minute.
    Parsing, invoking and every error path are unchanged."""
    import typer.main

    from stickyctl.cli.app import app as stickyctl_app

    real = typer.main.get_command
    built: dict[tuple[int, int], Any] = {}

    def get_command(app: Any) -> Any:
        if app is not stickyctl_app:  # e.g. the scratch apps stickyctl.cli.live_opts builds its flags with
            return real(app)
        key = (len(app.registered_commands), len(app.registered_groups))
        if key not in built:
            built[key] = real(app)
        return built[key]

    monkeypatch.setattr(typer.main, "get_command", get_command)


@pytest.mark.usefixtures("built_once")
def test_bad_input_corpus(corpus: Corpus, quiet_home: Path) -> None:
    started = time.monotonic()
    failures: list[str] = []
    tracebacks = 0
    for case in corpus.cases:
        res = invoke(*case.args, stdin=case.stdin, env=dict(case.env))
        tracebacks += "Traceback" in res.stdout + res.stderr
        failures.extend(f"{case.label()}: {p}" for p in problems(case, res))
    in_process = time.monotonic() - started

    sample: dict[str, list[Case]] = {}
    for case in corpus.cases:
        if not case.writes and not case.no_write:
            sample.setdefault(case.kind, []).append(case)
    picked = [cases[-1] for cases in sample.values()]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: run_process(c, quiet_home), picked))
    for case, res in zip(picked, results, strict=True):
        tracebacks += "Traceback" in res.stdout + res.stderr
        failures.extend(f"{case.label()} (process): {p}" for p in problems(case, res))

    by_kind = Counter(c.kind for c in corpus.cases)
    by_command = Counter(c.command for c in corpus.cases)
    print(f"\n{len(corpus.cases)} cases in {in_process:.1f}s in process, {len(picked)} as processes; "
          f"{tracebacks} tracebacks")
    for kind, n in sorted(by_kind.items()):
        print(f"  {n:5d}  {kind}")
    assert not failures, f"{len(failures)} of {len(corpus.cases)} cases failed:\n" + "\n".join(failures[:60])
    assert tracebacks == 0
    check_figures(by_kind, by_command, len(corpus.cases), len(picked))


# --- the figures in docs/security.md -------------------------------------------------------------------

START = "<!-- corpus figures: generated by tests/test_bad_input_corpus.py -->"
END = "<!-- end of corpus figures -->"


def figures_table(by_kind: Counter[str], by_command: Counter[str], total: int, processes: int) -> str:
    lines = [START, "", "| kind of bad input | cases |", "|---|---:|"]
    lines += [f"| {kind} | {n} |" for kind, n in sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += [f"| **total** | **{total}** |", "", "| command | cases |", "|---|---:|"]
    lines += [f"| `{cmd}` | {n} |" for cmd, n in sorted(by_command.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["", f"Each case runs in process; {processes} of them (one of each kind) also run as separate "
              "processes. Tracebacks: **0**. Internal errors: **0**. Exit codes other than the documented one: "
              "**0**.", "", END]
    return "\n".join(lines)


def check_figures(by_kind: Counter[str], by_command: Counter[str], total: int, processes: int) -> None:
    table = figures_table(by_kind, by_command, total, processes)
    text = SECURITY_MD.read_text() if SECURITY_MD.is_file() else ""
    if START not in text or END not in text:
        pytest.fail(f"{SECURITY_MD} has no corpus figures block; it should hold:\n{table}")
    current = text[text.index(START): text.index(END) + len(END)]
    if current != table:
        if os.environ.get("STICKYCTL_WRITE_FIGURES"):
            SECURITY_MD.write_text(text.replace(current, table))
            return
        pytest.fail("docs/security.md's corpus figures are out of date (STICKYCTL_WRITE_FIGURES=1 python -m pytest "
                    f"{Path(__file__).name} rewrites them):\n{table}")


def test_corpus_files_are_small_and_hand_written() -> None:
    files = [p for p in CORPUS.iterdir() if p.name != "README.md"]
    assert len(files) >= 30
    assert all(p.stat().st_size < 8192 for p in files), "keep the corpus small: derive big inputs at test time"
