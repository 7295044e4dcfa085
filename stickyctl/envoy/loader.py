"""Reading config dumps in every shape users have, into one neutral ``DumpParts``.

Accepted (see ISTIO-NOTES "Config dumps"):
- Envoy admin ``/config_dump`` (snake_case ``configs[]``), with or without ``?include_eds``, as
  JSON or YAML; ``istioctl proxy-config all -o json`` is the same document.
- The flat ``configs[]`` of ``config_dump?resource=…`` (DynamicListener, DynamicRouteConfig,
  DynamicCluster … entries instead of whole *ConfigDump messages).
- ``istioctl proxy-config listener|route|cluster|endpoint -o json|yaml``: camelCase bare lists of
  Listener / RouteConfiguration / Cluster / ClusterLoadAssignment objects.

Decoding goes straight from bytes into the partial Structs of ``schema`` (msgspec): fields no check
reads are skipped, not built. YAML is parsed (C loader when present) and re-encoded to JSON first,
which keeps it linear. Emits STK0001 (cannot read) and STK0002 (not a supported dump) as
``InputError``. ``SecretsConfigDump`` is decoded into an empty Struct: its content is never kept.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from stickyctl.envoy import schema as s
from stickyctl.errors import InputError, WrongInputError

ADMIN_V2 = "type.googleapis.com/envoy.admin.v2alpha."
STDIN = "-"


class Codec:
    """Decoders for one key style (snake_case admin dumps, or camelCase protojson)."""

    def __init__(self, camel: bool, full: bool) -> None:
        """``full=False``: the decoders of ``check``, which skip EDS and what only ``why`` reads
        (``schema.CHECK_SKIPS``)."""
        skip = frozenset() if full else s.CHECK_SKIPS

        def t(tp: Any) -> Any:
            return s.variant(tp, camel=camel, skip=skip)

        self.camel = camel
        self.full = full
        self.probe = msgspec.json.Decoder(t(s.Probe))
        self.raw_list = msgspec.json.Decoder(list[msgspec.Raw])
        self.admin_dump = msgspec.json.Decoder(t(s.AdminDump))
        self.full_dump = msgspec.json.Decoder(t(s.FullDump))
        self.admin_entry = msgspec.json.Decoder(t(s.AdminEntry))
        self.known_entry = msgspec.json.Decoder(t(s.KnownEntry))
        self.virtual_hosts = msgspec.json.Decoder(t(list[s.VirtualHost]))
        self.head = msgspec.json.Decoder(s.Head)
        self.listener = msgspec.json.Decoder(t(s.Listener))
        self.route_config = msgspec.json.Decoder(t(s.RouteConfiguration))
        self.cluster = msgspec.json.Decoder(t(s.Cluster))
        self.health_status_set = msgspec.json.Decoder(t(s.HealthStatusSet))
        self.load_assignment = msgspec.json.Decoder(t(s.ClusterLoadAssignment))
        self.hcm = msgspec.json.Decoder(t(s.HttpConnectionManager))
        self.stateful_session = msgspec.json.Decoder(t(s.StatefulSession))
        self.session_per_route = msgspec.json.Decoder(t(s.SessionPerRoute))
        self.istio_endpoint_metadata = msgspec.json.Decoder(t(s.IstioEndpointMetadata))
        self.original_dst_metadata = msgspec.json.Decoder(t(s.OriginalDstMetadata))


_CODECS: dict[tuple[bool, bool], Codec] = {}


def codec(camel: bool, full: bool = True) -> Codec:
    key = (camel, full)
    if key not in _CODECS:
        _CODECS[key] = Codec(camel, full)
    return _CODECS[key]


@dataclass
class ListenerEntry:
    name: str
    state: str
    """active | warming | draining | error | static"""
    listener: s.Listener | None
    """The Listener for active/warming/draining/static; the failed config for error."""
    error: s.ListenerErrorState | None = None


@dataclass
class RouteConfigEntry:
    name: str
    route_config: s.RouteConfiguration
    static: bool


@dataclass
class ClusterEntry:
    name: str
    cluster: s.Cluster
    static: bool
    warming: bool = False


@dataclass
class DumpParts:
    """What one input contributes. Presence flags say which kinds the input carried at all."""

    source: str
    codec: Codec = field(default_factory=lambda: codec(False))
    node: dict[str, Any] | None = None
    listeners: list[ListenerEntry] = field(default_factory=list)
    route_configs: list[RouteConfigEntry] = field(default_factory=list)
    clusters: list[ClusterEntry] = field(default_factory=list)
    endpoints: list[s.ClusterLoadAssignment | msgspec.Raw] = field(default_factory=list)
    """Decoded load assignments; for ``check`` (``full=False``) the bytes of each, undecoded."""
    has_listeners: bool = False
    has_routes: bool = False
    has_clusters: bool = False
    has_endpoints: bool = False
    has_scoped_routes: bool = False


# ---------------------------------------------------------------------------------------------
# Reading bytes


DEFAULT_MAX_INPUT_BYTES = 1 << 30
"""A 40k-Service gateway dump is ~270 MB; a file over 1 GiB is refused before it is read (memory
stays bounded). STICKYCTL_MAX_INPUT_BYTES raises the limit for larger meshes."""


def max_input_bytes() -> int:
    try:
        return int(os.environ.get("STICKYCTL_MAX_INPUT_BYTES", DEFAULT_MAX_INPUT_BYTES))
    except ValueError:
        return DEFAULT_MAX_INPUT_BYTES


def _too_large(path: str, limit: int) -> InputError:
    shown = f"{limit // (1 << 20)} MiB" if limit >= 1 << 20 else f"{limit} bytes"
    return InputError(path, f"larger than {shown}; not read (set STICKYCTL_MAX_INPUT_BYTES to "
                            "allow larger inputs)", code="STK0001")


def _read_bounded(fh: Any, path: str, limit: int, *, stream: bool = True) -> bytes:
    """At most ``limit`` bytes. A regular file is read in one go (its size was checked); a stream
    (pipe, process substitution, device) has no size: its first 64 KiB come alone, so binary data
    (`-f /dev/zero`) is refused before up to ``limit`` more bytes are read."""
    if not stream:
        data = fh.read(limit + 1)
        if len(data) > limit:
            raise _too_large(path, limit)
        return bytes(data)
    head = fh.read(min(limit + 1, 1 << 16))
    if not head:
        return b""
    _refuse_binary(head[3:] if head.startswith(b"\xef\xbb\xbf") else head, path)
    rest = fh.read(limit + 1 - len(head)) if len(head) <= limit else b""
    if len(head) + len(rest) > limit:
        raise _too_large(path, limit)
    return bytes(head + rest) if rest else bytes(head)


def read_source(path: str, *, expected: str = "a config dump") -> bytes:
    """Read a file, `-` (stdin), a pipe or a process substitution; STK0001 when that fails.
    ``expected``: what the file should hold, for the messages."""
    limit = max_input_bytes()
    if path == STDIN:
        return _read_bounded(sys.stdin.buffer, "stdin", limit)
    if os.path.isdir(path):
        raise InputError(path, f"is a directory, not a file with {expected}", code="STK0001")
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size > limit:
                raise _too_large(path, limit)
            return _read_bounded(fh, path, limit, stream=not stat.S_ISREG(st.st_mode))
    except FileNotFoundError:
        raise InputError(path, "no such file", code="STK0001") from None
    except PermissionError:
        raise InputError(path, "permission denied", code="STK0001") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}", code="STK0001") from None


def _refuse_binary(data: bytes, source: str) -> None:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4096]:
        raise InputError(source, "not UTF-8 text (UTF-16 or binary data); re-save the dump as UTF-8")


def check_text(data: bytes, source: str, *, expected: str = "an Envoy config dump") -> bytes:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    _refuse_binary(data, source)
    if not data or data.isspace():  # no .strip(): that would copy a 100+ MB dump
        raise InputError(source, f"empty input, expected {expected}")
    return data


_FIRST = re.compile(rb"\s*(.)", re.DOTALL)


def first_byte(data: bytes) -> bytes:
    m = _FIRST.match(data)
    return m.group(1) if m else b""


def _is_json(data: bytes) -> bool:
    return first_byte(data) in (b"{", b"[")


NESTED_TOO_DEEPLY = "nested too deeply to be a config dump or manifest"


def decode_document(data: bytes, source: str, *, expected: str = "an Envoy config dump") -> Any:
    """The whole document as Python objects (for small inputs: manifests, not dumps)."""
    try:
        return _decode_document(data, source, expected)
    except RecursionError:
        raise InputError(source, NESTED_TOO_DEEPLY) from None


def _decode_document(data: bytes, source: str, expected: str = "an Envoy config dump") -> Any:
    data = check_text(data, source, expected=expected)
    if _is_json(data):
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise InputError(source, f"invalid JSON: {_clean(str(exc))}") from None
    return _yaml_documents(data, source, expected)


def _clean(message: str) -> str:
    # msgspec says "JSON is malformed: invalid character (byte 12)" or "Input data was truncated".
    message = message.replace("Input data was truncated", "truncated (the file ends mid-document)")
    if message[:2].isupper():  # "JSON is malformed", not "jSON is malformed"
        return message
    return message[0].lower() + message[1:] if message else message


def _yaml_documents(data: bytes, source: str, expected: str = "an Envoy config dump") -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(source, f"not UTF-8 text (byte {exc.start})") from None
    try:
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "nesting depth" in str(problem):
            # PyYAML >= 6.0.4 stops at its own depth limit; older ones overflow the stack (below).
            raise InputError(source, f"YAML nested too deeply{where}") from None
        raise InputError(source, f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise InputError(source, "YAML nested too deeply") from None
    _refuse_alias_bombs(docs, source)
    if not docs:
        raise InputError(source, f"empty input, expected {expected}")
    if len(docs) == 1:
        return docs[0]
    # Several documents (e.g. `istioctl pc listener -o yaml` of a few proxies concatenated): one
    # bare list of resources.
    out: list[Any] = []
    for d in docs:
        out.extend(d if isinstance(d, list) else [d])
    return out


MAX_YAML_EXPANDED_NODES = 20_000_000


def _refuse_alias_bombs(docs: list[Any], source: str) -> None:
    """YAML aliases share one object; expanding them (to JSON) can be exponential ("billion laughs").
    Count the expanded size, memoised per shared object, before anything expands it. Mapping keys
    JSON cannot hold (YAML ``true:``, ``null:``, ``1.5:``) are refused on the same walk."""
    memo: dict[int, int] = {}

    def size(obj: Any) -> int:
        if isinstance(obj, dict):
            for k in obj:
                if not isinstance(k, str) and id(obj) not in memo:
                    raise InputError(source, f"mapping key {k!r} ({_kind(k)}) is not a string: not a config "
                                             "dump or manifest")
            items: Any = obj.values()
        elif isinstance(obj, list):
            items = obj
        else:
            return 1
        key = id(obj)
        if key not in memo:
            memo[key] = 1 + sum(size(v) for v in items)
            if memo[key] > MAX_YAML_EXPANDED_NODES:
                raise InputError(source, "YAML aliases expand to more than 20 million nodes (an alias bomb?); "
                                         "not read")
        return memo[key]

    try:
        for d in docs:
            size(d)
    except RecursionError:
        raise InputError(source, "YAML nested too deeply") from None


_CAMEL_MARKERS = re.compile(
    rb'"(typedConfig|filterChains|virtualHosts|dynamicListeners|dynamicActiveClusters|dynamicRouteConfigs|'
    rb"routeConfig|activeState|typedPerFilterConfig|clusterName|lbEndpoints|connectTimeout|httpFilters|"
    rb'routeConfigName|staticListeners|staticClusters|lbPolicy|edsClusterConfig)"'
)
_SNAKE_MARKERS = re.compile(
    rb'"(typed_config|filter_chains|virtual_hosts|dynamic_listeners|dynamic_active_clusters|route_config|'
    rb'cluster_name|lb_endpoints|connect_timeout|http_filters|static_listeners|lb_policy)"'
)


def _looks_camel(data: bytes) -> bool:
    """protojson (istioctl) uses lowerCamelCase field names; Envoy's admin API snake_case."""
    head = data[: 1 << 16]
    camel = _CAMEL_MARKERS.search(head)
    snake = _SNAKE_MARKERS.search(head)
    if camel and snake:
        return camel.start() < snake.start()
    return camel is not None


# ---------------------------------------------------------------------------------------------
# Parsing


def load_file(path: str, *, full: bool = True) -> DumpParts:
    """``full=False`` decodes only what ``check`` reads: EDS (a third of a large dump) and what only
    ``why`` reads are skipped unread (``schema.CHECK_SKIPS``)."""
    data = read_source(path)
    return parse_bytes(data, "stdin" if path == STDIN else path, full=full)


# ---------------------------------------------------------------------------------------------
# One section at a time

_SECTION_CHUNK = 1 << 20
# An admin dump as Envoy (and istioctl, jq, json.dump with an indent) prints it: every configs[] entry
# opens after a line break and its closing brace starts a line with the same indent. JSON strings
# hold no raw line breaks, so that line can only be the entry's own end (or, in a dump indented
# some other way, an inner brace: then the bytes up to it are not a JSON value and decoding says so).
_FRAME_HEAD = re.compile(rb'\{\s*"configs"\s*:\s*\[\s*\n(?P<indent>[ \t]*)\{')
_WS = b" \t\r\n"


class SectionsAbandoned(Exception):
    """Raised by a ``load_sections`` consumer: read the input whole instead."""


VHOSTS_PLACEHOLDER = "\x00stickyctl streamed virtual hosts "
"""The one virtual host ``load_sections`` leaves in a route configuration whose virtual hosts it
streamed, named after the array's number (a name no dump has: JSON strings may hold NUL, Envoy's
names do not)."""

_ROUTES_ENTRY = re.compile(rb'\{\s*"@type"\s*:\s*"type\.googleapis\.com/envoy\.admin\.v3\.RoutesConfigDump"')
_VHOSTS_ARRAY = re.compile(rb'"(?:virtual_hosts|virtualHosts)"\s*:\s*\[\s*\n(?P<indent>[ \t]*)\{')
_NEXT = re.compile(rb"\s*")
TakeVirtualHosts = Callable[[DumpParts, int, list[Any]], None]


def load_sections(path: str, take: Callable[[DumpParts], None], *, full: bool = True,
                  take_virtual_hosts: TakeVirtualHosts | None = None) -> DumpParts | None:
    """``load_file`` for a regular file holding an admin dump as Envoy prints it, decoded one
    ``configs[]`` entry (section) at a time: after each section is added to the parts, ``take(parts)``
    converts and removes it, so the section's bytes and decoded Structs are freed before the next is
    read. Only one section's bytes are ever held, instead of the whole file plus everything decoded
    from it (a no-EDS gateway dump is mostly two sections: clusters, routes).

    Returns the parts (node and presence flags; their entries were handed to ``take``), or None when
    the file is not such a dump, or any section does not decode as a known entry: the caller then
    starts over with ``load_file``, whose errors are the ones to report.

    ``take_virtual_hosts(parts, array, vhosts)``: the virtual hosts of a route configuration in a
    ``RoutesConfigDump`` entry (a gateway's one route table is most of a no-EDS dump) are handed over
    in batches as they are read, before their route configuration, whose ``virtual_hosts`` then holds
    one placeholder (``VHOSTS_PLACEHOLDER`` + the array's number): not even that entry's bytes are held
    at once. Either callback may raise ``SectionsAbandoned``."""
    if path == STDIN or os.path.isdir(path):
        return None
    try:
        fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below, on every path
    except OSError:
        return None
    try:
        return _load_sections(fh, path, take, full, take_virtual_hosts)
    except (SectionsAbandoned, msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError,
            OSError, ValueError):
        return None
    finally:
        fh.close()


class _Window:
    """The file read on in chunks: ``buf[pos:]`` is what has been read and not used yet."""

    def __init__(self, fh: Any, data: bytes) -> None:
        self.fh = fh
        self.buf = data
        self.pos = 0

    def more(self) -> bool:
        chunk = self.fh.read(_SECTION_CHUNK)
        if not chunk:
            return False
        self.buf = b"".join((memoryview(self.buf)[self.pos:], chunk))
        self.pos = 0
        return True


def _stream_routes_entry(w: _Window, end_of_entry: re.Pattern[bytes], parts: DumpParts,
                         take_virtual_hosts: TakeVirtualHosts, arrays: int) -> tuple[bytes, int] | None:
    """A ``RoutesConfigDump`` entry read from ``w.buf[w.pos:]`` on, its virtual hosts decoded in batches
    and handed to ``take_virtual_hosts`` as they come. Returns the entry with each virtual hosts array
    replaced by its placeholder (small: the rest of the entry), and the number of arrays so far."""
    vhosts_decoder = parts.codec.virtual_hosts
    skeleton = bytearray()
    while True:
        found = end_of_entry.search(w.buf, w.pos)
        array = _VHOSTS_ARRAY.search(w.buf, w.pos, found.start() if found else len(w.buf))
        if array is None and found is None:
            if not w.more():
                return None
            continue
        if array is None:
            assert found is not None
            skeleton += w.buf[w.pos: found.end()]
            w.pos = found.end()
            return bytes(skeleton), arrays
        # The array's elements close on their own indent (deeper lines are inside an element), each
        # followed by "," or by the array's "]".
        skeleton += w.buf[w.pos: array.end() - 1]
        skeleton += msgspec.json.encode({"name": f"{VHOSTS_PLACEHOLDER}{arrays}"})
        close = b"\n" + array.group("indent") + b"}"
        array_end = re.compile(re.escape(close) + rb"\s*\]")
        w.pos = array.end() - 1
        while True:
            # The last element closed in what was read, found from the end: past the array's end
            # an inner object of the route configuration may close on the same indent, but then the
            # batch cannot decode (the array's "]" and more follow in it) and the array's end is
            # looked for from the start instead.
            batch_end = follows = -1
            hi = len(w.buf)
            while (i := w.buf.rfind(close, w.pos, hi)) >= 0:
                after = _NEXT.match(w.buf, i + len(close))
                if after is not None and after.end() < len(w.buf):
                    batch_end, follows = i + len(close), after.end()
                    break
                hi = i + len(close) - 1
            if batch_end < 0:
                if not w.more():
                    return None
                continue
            sep = w.buf[follows: follows + 1]
            last = sep == b"]"
            try:
                if sep not in (b",", b"]"):
                    raise msgspec.DecodeError("not an element's end")
                vhosts = vhosts_decoder.decode(b"[" + w.buf[w.pos: batch_end] + b"]")
            except msgspec.DecodeError:
                found_end = array_end.search(w.buf, w.pos)
                if found_end is None:
                    raise
                batch_end, follows, last = found_end.start() + len(close), found_end.end() - 1, True
                vhosts = vhosts_decoder.decode(b"[" + w.buf[w.pos: batch_end] + b"]")
            take_virtual_hosts(parts, arrays, vhosts)
            del vhosts
            if last:
                w.pos = follows  # the skeleton goes on from the "]"
                arrays += 1
                break
            w.pos = follows + 1  # past the ","


class _Section:
    """One entry's bytes, read from the file into an anonymous mapping as large as what is left of
    the file: only the pages written are memory, the buffer never moves as it fills (no copies as it
    grows), and it is unmapped once nothing refers to it (decoded Raw fields are views of it)."""

    def __init__(self, fh: Any, left: int, carry: bytes) -> None:
        self.fh = fh
        self.mm = mmap.mmap(-1, max(left + len(carry), 1))
        self.mm[: len(carry)] = carry
        self.filled = len(carry)

    def fill(self) -> bool:
        """Read the next chunk in; False at the end of the file (or of the mapping)."""
        room = len(self.mm) - self.filled
        if room <= 0:
            return False
        with memoryview(self.mm) as view:
            n = self.fh.readinto(view[self.filled: self.filled + min(room, _SECTION_CHUNK)])
        self.filled += n or 0
        return bool(n)


def _load_sections(fh: Any, path: str, take: Callable[[DumpParts], None], full: bool,
                   take_virtual_hosts: TakeVirtualHosts | None) -> DumpParts | None:
    limit = max_input_bytes()
    st = os.fstat(fh.fileno())
    size = st.st_size
    if not stat.S_ISREG(st.st_mode) or size > limit:
        return None
    head = fh.read(1 << 16)
    m = _FRAME_HEAD.match(head)
    if m is None:
        return None
    end_of_entry = re.compile(re.escape(b"\n" + m.group("indent") + b"}"))
    parts = DumpParts(source=path, codec=codec(_looks_camel(head), full))
    ctx = _Ctx(parts)
    decoder = parts.codec.known_entry
    carry = head[m.end() - 1:]  # from the first entry's "{"
    index = 0
    arrays = 0
    while True:
        if len(carry) < 512:
            carry += fh.read(_SECTION_CHUNK)
        if take_virtual_hosts is not None and _ROUTES_ENTRY.match(carry):
            w = _Window(fh, carry)
            streamed = _stream_routes_entry(w, end_of_entry, parts, take_virtual_hosts, arrays)
            if streamed is None:
                return None
            skeleton, arrays = streamed
            carry = w.buf[w.pos:]
            del w
            entry = decoder.decode(skeleton)
            del skeleton
        else:
            # Read the entry in, up to the line that closes it.
            section = _Section(fh, size - fh.tell(), carry)
            searched = 0
            while (found := end_of_entry.search(section.mm, searched, section.filled)) is None:
                searched = max(section.filled - len(end_of_entry.pattern), 0)
                if not section.fill():
                    return None
            end = found.end()
            carry = section.mm[end: section.filled]
            entry = decoder.decode(memoryview(section.mm)[:end])
            del section  # the entry's Raw fields are views of its bytes: those stay until it is converted
        _add_entry(ctx, entry, f"configs[{index}]")
        del entry
        take(parts)  # converted: the entry's Structs, and with them its bytes, are gone
        index += 1
        # Then "," and the next entry's "{", or the end of configs and of the document.
        rest = carry.lstrip(_WS)
        while not rest or (rest[:1] == b"," and not rest[1:].lstrip(_WS)):
            more = fh.read(_SECTION_CHUNK)
            if not more:
                return None
            rest = (rest + more).lstrip(_WS)
        if rest[:1] == b",":
            carry = rest[1:].lstrip(_WS)
            if carry[:1] != b"{":
                return None
            continue
        if rest[:1] != b"]" or (rest[1:] + fh.readall()).strip(_WS) != b"}":
            return None
        break
    p = parts
    if not (p.node or p.has_listeners or p.has_routes or p.has_clusters or p.has_endpoints):
        return None  # load_file says what is missing
    return parts


def parse_document(doc: Any, source: str, *, full: bool = True, camel: bool | None = None) -> DumpParts:
    """A document already decoded into Python objects (e.g. by an HTTP client). ``camel``: the key
    style when the caller knows it (Envoy's admin API prints snake_case), else it is guessed."""
    return _parse_json(msgspec.json.encode(doc), source, full, camel)


def parse_bytes(data: bytes, source: str, *, full: bool = True) -> DumpParts:
    try:
        return _parse_bytes(data, source, full)
    except RecursionError:
        raise InputError(source, NESTED_TOO_DEEPLY) from None
    except UnicodeDecodeError as exc:  # msgspec checks UTF-8 only inside the strings it reads
        raise InputError(source, not_utf8(exc)) from None


def not_utf8(exc: UnicodeDecodeError) -> str:
    bad = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
    return f"not UTF-8 text (byte 0x{bad} in a string); re-save the file as UTF-8"


def _parse_bytes(data: bytes, source: str, full: bool) -> DumpParts:
    data = check_text(data, source)
    if not _is_json(data):
        # YAML: build Python objects (unavoidable), then take the same typed path as JSON.
        data = msgspec.json.encode(_yaml_documents(data, source))
    return _parse_json(data, source, full)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


class _Ctx:
    def __init__(self, parts: DumpParts) -> None:
        self.parts = parts
        self.c = parts.codec

    def fail(self, message: str) -> InputError:
        return InputError(self.parts.source, message)

    def decode(self, decoder: msgspec.json.Decoder[Any], raw: msgspec.Raw | bytes, where: str) -> Any:
        try:
            return decoder.decode(raw)
        except msgspec.ValidationError as exc:
            raise self.fail(error_at(str(exc), where)) from None
        except msgspec.DecodeError as exc:
            raise self.fail(f"invalid JSON: {_clean(str(exc))}") from None


def error_at(message: str, where: str) -> str:
    """Re-root msgspec's ``- at `$.x.y``` path under where this sub-document sits."""
    m = re.search(r" - at `\$(.*)`$", message)
    if not m:
        return f"{where}: {message}" if where else message
    path = (where + m.group(1)) if where else m.group(1).lstrip(".")
    return f"{path}: {message[: m.start()]}"


def _parse_json(data: bytes, source: str, full: bool = True, camel: bool | None = None) -> DumpParts:
    parts = DumpParts(source=source, codec=codec(_looks_camel(data) if camel is None else camel, full))
    ctx = _Ctx(parts)
    if first_byte(data) == b"[":
        _parse_bare_list(ctx, ctx.decode(ctx.c.raw_list, data, ""))
    else:
        # The common case first: an admin dump of known entry types, decoded in one pass.
        try:
            whole = ctx.c.full_dump.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            whole = None
        if whole is not None and whole.configs:
            for i, entry in enumerate(whole.configs):
                _add_entry(ctx, entry, f"configs[{i}]")
            _require_content(ctx)
            return parts
        # Then any admin dump: configs[] as raw entries, each decoded (or skipped) on its own.
        try:
            dump: s.AdminDump | None = ctx.c.admin_dump.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            dump = None
        if dump is not None and dump.configs is not None:
            _parse_configs(ctx, dump.configs)
            _require_content(ctx)
            return parts
        try:
            probe = ctx.c.probe.decode(data)
        except msgspec.ValidationError:
            probe = None
        except msgspec.DecodeError as exc:
            raise ctx.fail(f"invalid JSON: {_clean(str(exc))}") from None
        if probe is None:
            doc = msgspec.json.decode(data)
            raise ctx.fail(f"is {_kind(doc)} without 'configs': not an Envoy config dump")
        if len(probe.configs):
            try:
                entries = ctx.c.raw_list.decode(probe.configs)
            except msgspec.ValidationError:
                raise ctx.fail(f"'configs' is {_kind(msgspec.json.decode(probe.configs))}, expected a list of "
                               "config dump entries") from None
            _parse_configs(ctx, entries)
        elif _resource_kind(probe) is not None:
            _parse_bare_list(ctx, [msgspec.Raw(data)])
        elif len(probe.kind) and len(probe.api_version):
            # A file in the wrong place is a usage error (exit 2), not a target that failed (exit 3).
            kind = msgspec.json.decode(probe.kind)
            if kind == "Config":
                raise WrongInputError(f"{ctx.parts.source}: this is a kubeconfig, not an Envoy config dump: pass it "
                                      "with --kubeconfig")
            option = "--istiod" if kind == "Deployment" else "--services"
            raise WrongInputError(f"{ctx.parts.source}: this is a Kubernetes {kind} manifest, not an Envoy config "
                                  f"dump: `stickyctl check` reads it with {option}")
        else:
            raise ctx.fail("is an object without 'configs': not an Envoy config dump")
    _require_content(ctx)
    return parts


def _require_content(ctx: _Ctx) -> None:
    p = ctx.parts
    if not (p.node or p.has_listeners or p.has_routes or p.has_clusters or p.has_endpoints):
        raise ctx.fail("holds no bootstrap, listeners, routes, clusters or endpoints to check")


def _parse_configs(ctx: _Ctx, entries: list[msgspec.Raw]) -> None:
    known = 0
    for i, raw in enumerate(entries):
        where = f"configs[{i}]"
        try:
            entry = ctx.c.admin_entry.decode(raw)
        except msgspec.ValidationError as exc:
            head = _head(ctx, raw, where)
            if head.startswith(ADMIN_V2):
                raise ctx.fail(f"legacy v2alpha config dump ({head.rsplit('/', 1)[-1]}); record it from an Envoy "
                               "with the v3 admin API (Istio 1.6+)") from None
            if not head:
                raise ctx.fail(f"{where} has no '@type': not an Envoy admin config dump") from None
            if "- at `$.@type`" in str(exc):
                continue  # an admin type stickyctl never reads (EcdsConfigDump, …)
            raise ctx.fail(error_at(str(exc), where)) from None
        except msgspec.DecodeError as exc:
            raise ctx.fail(f"invalid JSON: {_clean(str(exc))}") from None
        known += 1
        _add_entry(ctx, entry, where)
    if known == 0:
        raise ctx.fail("no Envoy v3 admin config dump entries in 'configs'")


def _head(ctx: _Ctx, raw: msgspec.Raw, where: str) -> str:
    try:
        head: s.Head = ctx.c.head.decode(raw)
        return head.type
    except msgspec.ValidationError:
        raise ctx.fail(f"{where} is not an object with an '@type'") from None


def _add_entry(ctx: _Ctx, entry: Any, where: str) -> None:
    p = ctx.parts
    name = type(entry).__name__.removesuffix("Camel")
    if name == "BootstrapConfigDump":
        if entry.bootstrap is not None and entry.bootstrap.node is not None:
            p.node = entry.bootstrap.node
    elif name == "ListenersConfigDump":
        p.has_listeners = True
        for sl in entry.static_listeners:
            _static_listener(p, sl)
        for dl in entry.dynamic_listeners:
            _dynamic_listener(p, dl)
    elif name == "StaticListener":
        p.has_listeners = True
        _static_listener(p, entry)
    elif name == "DynamicListener":
        p.has_listeners = True
        _dynamic_listener(p, entry)
    elif name == "ClustersConfigDump":
        p.has_clusters = True
        for c in entry.static_clusters:
            _cluster(p, c.cluster, static=True)
        for c in entry.dynamic_active_clusters:
            _cluster(p, c.cluster, static=False)
        for c in entry.dynamic_warming_clusters:
            _cluster(p, c.cluster, static=False, warming=True)
    elif name in ("StaticCluster", "DynamicCluster"):
        p.has_clusters = True
        _cluster(p, entry.cluster, static=name == "StaticCluster")
    elif name == "RoutesConfigDump":
        p.has_routes = True
        for r in entry.static_route_configs:
            _route_config(p, r.route_config, static=True)
        for r in entry.dynamic_route_configs:
            _route_config(p, r.route_config, static=False)
    elif name in ("StaticRouteConfig", "DynamicRouteConfig"):
        p.has_routes = True
        _route_config(p, entry.route_config, static=name == "StaticRouteConfig")
    elif name == "ScopedRoutesConfigDump":
        if entry.inline_scoped_route_configs or entry.dynamic_scoped_route_configs:
            p.has_scoped_routes = True
    elif name == "EndpointsConfigDump":
        p.has_endpoints = True
        for e in (*entry.static_endpoint_configs, *entry.dynamic_endpoint_configs):
            _endpoint_config(p, e.endpoint_config)
    elif name in ("StaticEndpointConfig", "DynamicEndpointConfig"):
        p.has_endpoints = True
        _endpoint_config(p, entry.endpoint_config)
    # SecretsConfigDump: an empty Struct, deliberately ignored.


def _endpoint_config(p: DumpParts, cla: s.ClusterLoadAssignment | msgspec.Raw | None) -> None:
    # check's decoders keep a load assignment as its bytes (schema.CHECK_SKIPS, ":raw"): none is empty.
    if cla is not None and not (isinstance(cla, msgspec.Raw) and len(cla) == 0):
        p.endpoints.append(cla)


def _static_listener(p: DumpParts, sl: Any) -> None:
    if sl.listener is not None:
        p.listeners.append(ListenerEntry(listener_name(sl.listener), "static", sl.listener))


def _dynamic_listener(p: DumpParts, dl: Any) -> None:
    for state_name in ("active", "warming", "draining"):
        st = getattr(dl, f"{state_name}_state")
        if st is not None and st.listener is not None:
            p.listeners.append(ListenerEntry(dl.name or listener_name(st.listener), state_name, st.listener))
    err = dl.error_state
    if err is not None:
        # Envoy 1.40 also lists a second entry with no name, only error_state: take the name from
        # the failed configuration; the model de-duplicates (ISTIO-NOTES, [seen]).
        failed = err.failed_configuration
        name = dl.name or (listener_name(failed) if failed is not None else "")
        p.listeners.append(ListenerEntry(name, "error", failed, err))


def listener_name(listener: s.Listener) -> str:
    if listener.name:
        return listener.name
    # Istio's bootstrap listeners (15090 stats, 15021 health) have no name: use the address.
    sa = listener.address.socket_address if listener.address is not None else None
    if sa is not None and sa.port_value is not None:
        return f"{sa.address}_{sa.port_value}"
    return ""


def _cluster(p: DumpParts, cluster: s.Cluster | None, *, static: bool, warming: bool = False) -> None:
    if cluster is not None:
        p.clusters.append(ClusterEntry(cluster.name, cluster, static, warming))


def _route_config(p: DumpParts, rc: s.RouteConfiguration | None, *, static: bool) -> None:
    if rc is not None:
        p.route_configs.append(RouteConfigEntry(rc.name, rc, static))


def _resource_kind(probe: Any) -> str | None:
    """Which xDS resource a bare object is (istioctl proxy-config prints them without @type)."""
    t = probe.type
    if t:
        for suffix, kind in (("Listener", "listener"), ("RouteConfiguration", "route"), ("Cluster", "cluster"),
                             ("ClusterLoadAssignment", "endpoints")):
            if t.endswith("." + suffix):
                return kind
    if len(probe.filter_chains) or len(probe.default_filter_chain) or len(probe.listener_filters):
        return "listener"
    if len(probe.virtual_hosts):
        return "route"
    if len(probe.cluster_name) and len(probe.endpoints):
        return "endpoints"
    if len(probe.name) and any(len(r) for r in (probe.connect_timeout, probe.lb_policy, probe.eds_cluster_config,
                                                 probe.load_assignment, probe.common_lb_config)):
        return "cluster"
    return None


def _parse_bare_list(ctx: _Ctx, items: list[msgspec.Raw]) -> None:
    p = ctx.parts
    for i, raw in enumerate(items):
        where = f"[{i}]"
        try:
            probe = ctx.c.probe.decode(raw)
        except msgspec.ValidationError:
            raise ctx.fail(f"item {where} is {_kind(msgspec.json.decode(raw))}, expected an object") from None
        kind = _resource_kind(probe)
        if kind == "listener":
            p.has_listeners = True
            lst: s.Listener = ctx.decode(ctx.c.listener, raw, where)
            # LDS resources are always named; an unnamed listener in a bare list is a bootstrap
            # static one (Istio's 15090 stats and 15021 health listeners have no name).
            p.listeners.append(ListenerEntry(listener_name(lst), "active" if lst.name else "static", lst))
        elif kind == "route":
            p.has_routes = True
            _route_config(p, ctx.decode(ctx.c.route_config, raw, where), static=False)
        elif kind == "cluster":
            p.has_clusters = True
            _cluster(p, ctx.decode(ctx.c.cluster, raw, where), static=False)
        elif kind == "endpoints":
            p.has_endpoints = True
            p.endpoints.append(ctx.decode(ctx.c.load_assignment, raw, where) if ctx.c.full else raw)
        elif len(probe.kind) and len(probe.api_version):
            kind = msgspec.json.decode(probe.kind)
            option = "--istiod" if kind == "Deployment" else "--services"
            raise WrongInputError(f"{ctx.parts.source}: item {where} is a Kubernetes {kind}, not an Envoy resource: "
                                  f"`stickyctl check` reads Kubernetes manifests with {option}")
        else:
            raise ctx.fail(f"item {where} is not an Envoy listener, route configuration, cluster or endpoints")
