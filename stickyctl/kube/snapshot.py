"""A snapshot: everything a live check read, in memory or on disk (``stickyctl dump``).

A live ``check`` collects a :class:`Snapshot` and checks it (stickyctl.checks.snapshot); ``dump``
writes the same snapshot to a directory and ``check --from DIR`` reads it back and checks it the
same way, so both give exactly the same findings. This module only records: it never checks.
On disk::

    DIR/snapshot.yaml                      what, when, where: clusters, targets (pods), versions,
                                           what could not be read and why
    DIR/objects.yaml                       the Services, ServiceEntries, workloads and routes read
                                           (a v1 List, reduced to what the checks read)
    DIR/istiod.yaml                        the istiod Deployments: image and persistent-session env only
    DIR/proxies/<context>/<ns>/<pod>.json  each pod's config dump ({"configs": [...]}, the flat entries
                                           of config_dump?resource=…, never secrets)

``objects.yaml`` and ``istiod.yaml`` are ordinary manifests: ``check -f DIR/proxies/…/pod.json
--services DIR/objects.yaml --istiod DIR/istiod.yaml`` reads them too. Writing is atomic: the
snapshot is built in a hidden sibling directory and renamed into place, so an interrupted dump
leaves no snapshot at all.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from stickyctl.errors import InputError, StickyError, UsageError

SNAPSHOT_KIND = "StickyctlSnapshot"
SNAPSHOT_VERSION = 1
MANIFEST = "snapshot.yaml"
OBJECTS = "objects.yaml"
ISTIOD = "istiod.yaml"


@dataclass
class ClusterRecord:
    context: str
    server: str
    kubernetes_version: str | None = None
    namespace: str | None = None
    """Where gateway pods were looked for (None: all namespaces)."""
    selector: str | None = None
    pods: list[str] = field(default_factory=list)
    istio_namespace: str = "istio-system"
    via: str = "port-forward"
    proxy_admin_port: int = 15000
    error: str | None = None
    """Why this cluster could not be read at all (then it has no targets)."""


@dataclass
class TargetRecord:
    label: str
    """How findings name the target: ``pod/<ns>/<name>`` (``<context>:pod/…`` with several contexts)."""
    context: str
    namespace: str
    pod: str
    node: str | None = None
    pod_ip: str | None = None
    phase: str | None = None
    ready: bool | None = None
    revision: str = "default"
    """The istiod revision the pod follows (istio.io/rev)."""
    proxy_image: str | None = None
    file: str | None = None
    """The dump, relative to the snapshot directory (None: not read)."""
    error: str | None = None
    """Why the dump could not be read (then the target is STK0001)."""
    node_id: str | None = None
    istio_version: str | None = None
    envoy_version: str | None = None
    configs: list[Any] | None = field(default=None, repr=False)
    """The dump itself (in memory; on disk it is ``file``)."""


@dataclass
class Snapshot:
    taken_at: str
    stickyctl_version: str
    label_keys: dict[str, str]
    clusters: list[ClusterRecord] = field(default_factory=list)
    targets: list[TargetRecord] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    istiod: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What was not read or not checked, and why (optional reads that were skipped, …)."""


# ---------------------------------------------------------------------------------------------
# On disk


class SnapshotError(StickyError):
    """A snapshot directory that cannot be read (exit 3)."""


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str) -> str:
    return _SAFE.sub("_", text).strip("._") or "_"


def dump_path(t: TargetRecord) -> str:
    return f"proxies/{_slug(t.context)}/{_slug(t.namespace)}/{_slug(t.pod)}.json"


def _yaml_dump(doc: Any) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=False, width=120,
                         allow_unicode=True))


def _record(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in asdict(obj).items() if k != "configs"}


def _k8s_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": items}


def check_out_dir(out_dir: str) -> Path:
    """``out_dir`` if a snapshot can be written there (checked before the cluster is read, and again
    when writing): absent, or an empty directory, in an existing directory."""
    target = Path(out_dir)
    try:
        if target.exists() or target.is_symlink():
            if not target.is_dir():
                raise UsageError(f"--out-dir {out_dir}: exists and is not a directory")
            if any(target.iterdir()):
                raise UsageError(f"--out-dir {out_dir}: exists and is not empty (a snapshot is never merged into "
                                 "another: choose a new directory)")
        parent = target.resolve().parent
    except OSError as exc:
        raise UsageError(f"--out-dir {out_dir}: {exc.strerror or exc}") from None
    if not parent.is_dir():
        raise UsageError(f"--out-dir {out_dir}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out-dir {out_dir}: cannot write in {parent}")
    return target


def write_snapshot(snapshot: Snapshot, out_dir: str) -> Path:
    """Write ``snapshot`` to ``out_dir`` atomically (temp directory, then one rename)."""
    import msgspec

    target = check_out_dir(out_dir)
    parent = target.resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=parent))
    try:
        for t in snapshot.targets:
            if t.configs is None:
                t.file = None
                continue
            t.file = dump_path(t)
            path = tmp / t.file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(msgspec.json.format(msgspec.json.encode({"configs": t.configs}), indent=1) + b"\n")
        manifest = {
            "kind": SNAPSHOT_KIND,
            "version": SNAPSHOT_VERSION,
            "taken_at": snapshot.taken_at,
            "stickyctl_version": snapshot.stickyctl_version,
            "label_keys": dict(snapshot.label_keys),
            "clusters": [_record(c) for c in snapshot.clusters],
            "targets": [_record(t) for t in snapshot.targets],
            "objects": OBJECTS,
            "istiod": ISTIOD,
            "notes": list(snapshot.notes),
        }
        (tmp / MANIFEST).write_text(
            "# Written by `stickyctl dump`; check it with `stickyctl check --from DIR`.\n" + _yaml_dump(manifest),
            encoding="utf-8")
        (tmp / OBJECTS).write_text(_yaml_dump(_k8s_list(snapshot.objects)), encoding="utf-8")
        (tmp / ISTIOD).write_text(_yaml_dump(_k8s_list(snapshot.istiod)), encoding="utf-8")
        os.chmod(tmp, 0o755)
        if target.exists():
            target.rmdir()
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,), "None": (type(None),)}


def _accepts(annotation: str, value: Any) -> bool:
    """Whether ``value`` fits a record field annotated ``annotation`` (``str | None``, ``list[str]`` …)."""
    for option in (a.strip() for a in annotation.split("|")):
        if option == "list[str]":
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return True
        elif option in _TYPES and isinstance(value, _TYPES[option]):
            if option == "int" and isinstance(value, bool):
                continue
            return True
    return False


def _fields(cls: Any, doc: Any, where: str, directory: str) -> Any:
    if not isinstance(doc, dict):
        raise SnapshotError(f"--from {directory}: {MANIFEST}: {where} is not a mapping: not a stickyctl snapshot")
    kept = {}
    for f in fields(cls):
        if f.name == "configs" or f.name not in doc:
            continue
        value = doc[f.name]
        if not _accepts(str(f.type), value):
            raise SnapshotError(f"--from {directory}: {MANIFEST}: {where}.{f.name} is {type(value).__name__}, "
                                f"expected {f.type}")
        kept[f.name] = value
    try:
        return cls(**kept)
    except TypeError as exc:
        missing = str(exc).partition("argument")[2].strip(": ") or str(exc)
        raise SnapshotError(f"--from {directory}: {MANIFEST}: {where}: missing {missing}") from None


def _load(base: Path, name: str, directory: str, *, optional: bool = False) -> Any:
    """One YAML/JSON file of the snapshot, read as any input is (size limit, encodings, nesting,
    alias bombs, no custom tags): a :class:`SnapshotError` naming the file otherwise."""
    from stickyctl.envoy.loader import decode_document, read_source

    path = base / name
    if optional and not path.exists():
        return {"items": []}
    if not path.is_file():
        raise SnapshotError(f"--from {directory}: {name} is not a file")
    try:
        return decode_document(read_source(str(path)), str(path))
    except InputError as exc:
        raise SnapshotError(f"--from {directory}: {name}: {exc.detail}") from None


def _items(doc: Any, name: str, directory: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        raise SnapshotError(f"--from {directory}: {name} is not a List: not written by `stickyctl dump`")
    items = doc.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise SnapshotError(f"--from {directory}: {name}: 'items' is not a list: not written by `stickyctl dump`")
    return [o for o in items if isinstance(o, dict)]


def read_snapshot(directory: str) -> Snapshot:
    import msgspec

    from stickyctl.envoy.loader import not_utf8, read_source

    base = Path(directory)
    if not base.is_dir():
        raise SnapshotError(f"--from {directory}: no such directory")
    if not (base / MANIFEST).exists():
        raise SnapshotError(f"--from {directory}: no {MANIFEST}: not a snapshot written by `stickyctl dump`")
    manifest = _load(base, MANIFEST, directory)
    if not isinstance(manifest, dict) or manifest.get("kind") != SNAPSHOT_KIND:
        raise SnapshotError(f"--from {directory}: {MANIFEST} is not a stickyctl snapshot")
    if manifest.get("version") != SNAPSHOT_VERSION or isinstance(manifest.get("version"), bool):
        raise SnapshotError(f"--from {directory}: snapshot version {manifest.get('version')!r} is not supported "
                            f"(this stickyctl reads version {SNAPSHOT_VERSION})")
    objects = _items(_load(base, OBJECTS, directory, optional=True), OBJECTS, directory)
    istiod = _items(_load(base, ISTIOD, directory, optional=True), ISTIOD, directory)
    label_keys = manifest.get("label_keys") or {}
    notes = manifest.get("notes") or []
    if not isinstance(label_keys, dict) or not all(isinstance(v, str) for v in label_keys.values()):
        raise SnapshotError(f"--from {directory}: {MANIFEST}: label_keys is not a mapping of strings")
    if not isinstance(notes, list):
        raise SnapshotError(f"--from {directory}: {MANIFEST}: notes is not a list")
    snap = Snapshot(
        taken_at=str(manifest.get("taken_at", "")),
        stickyctl_version=str(manifest.get("stickyctl_version", "")),
        label_keys={str(k): v for k, v in label_keys.items()},
        clusters=[_fields(ClusterRecord, c, f"clusters[{i}]", directory)
                  for i, c in enumerate(_list(manifest, "clusters", directory))],
        targets=[_fields(TargetRecord, t, f"targets[{i}]", directory)
                 for i, t in enumerate(_list(manifest, "targets", directory))],
        objects=objects,
        istiod=istiod,
        notes=[str(n) for n in notes],
    )
    root = base.resolve()
    for t in snap.targets:
        if t.file is None:
            continue
        path = (base / t.file).resolve()
        if root not in path.parents:
            raise SnapshotError(f"--from {directory}: target {t.label}: {t.file} is outside the snapshot")
        try:
            doc = msgspec.json.decode(read_source(str(path)))
        except InputError as exc:
            t.error = f"{t.file}: {exc.detail}"
            continue
        except msgspec.DecodeError as exc:
            t.error = f"{t.file}: invalid JSON ({exc})"
            continue
        except RecursionError:
            t.error = f"{t.file}: nested too deeply to be a config dump"
            continue
        except UnicodeDecodeError as exc:
            t.error = f"{t.file}: {not_utf8(exc)}"
            continue
        configs = doc.get("configs") if isinstance(doc, dict) else None
        if not isinstance(configs, list):
            t.error = f"{t.file}: no 'configs' list"
            continue
        t.configs = configs
    return snap


def _list(manifest: dict[str, Any], key: str, directory: str) -> list[Any]:
    value = manifest.get(key) or []
    if not isinstance(value, list):
        raise SnapshotError(f"--from {directory}: {MANIFEST}: {key} is not a list: not a stickyctl snapshot")
    return value
