"""`stickyctl decode` and `stickyctl encode`: session values to the hosts they pin, and back.

Decoding is as strict as Envoy 1.40 (``stickyctl.envoy.session_values``): a value Python would
happily decode but Envoy ignores is reported as not usable, with the reason.

The codec is imported inside the commands so other commands do not pay for it at start-up; yaml
is imported only for ``-o yaml``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stickyctl.cli import live_opts
from stickyctl.cli.formats import OutputFormat, TableOrDocument, TextOrDocument, write_document
from stickyctl.environment import Environment
from stickyctl.errors import StickyError, UsageError
from stickyctl.exitcodes import ExitStatus

if TYPE_CHECKING:
    from stickyctl.envoy.session_values import DecodedValue, SessionValue, ValueOrigin

SCHEMA_VERSION = 1
"""Version of the decode/encode JSON documents; bump on any incompatible change."""

Endpoints = dict[tuple[str, int], list[dict[str, Any]]]
"""What ``--resolve`` found for each pinned (address, port): endpoint descriptions from the dumps."""


LOOKUP = "Live lookup (--resolve without -f)"
"""The help panel of the flags that only a cluster lookup reads."""
LOOKUP_FLAGS = ("contexts", "kubeconfig", "namespace", "timeout")


def register(app: typer.Typer) -> None:
    from stickyctl.cli.help import Command

    app.command(
        "decode",
        cls=Command,
        epilog="Exit status: 0 every value pins a host; 1 a value Envoy would ignore (invalid or expired), or no "
        "session value in the input; 2 usage error; 3 an input could not be read (stdin over the size limit, a "
        "--resolve dump, the cluster).",
    )(decode)
    app.command("encode", epilog="Exit status: 0 printed; 2 bad address or option.", cls=Command)(encode)


def decode(
    ctx: typer.Context,
    values: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="VALUE",
            help="A session value (quoted or not), a header line ('x-session: MTAu...'), a Set-Cookie or "
            "Cookie line, or '-' to read stdin (e.g. `curl -v ... 2>&1 | stickyctl decode -`).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        TableOrDocument, typer.Option("--output", "-o", metavar="FORMAT", help="table | json | yaml.")
    ] = OutputFormat.TABLE,
    names: Annotated[
        list[str] | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help="Only the headers/cookies of this name (repeatable); they are reported even when they "
            "do not decode.",
        ),
    ] = None,
    resolve: Annotated[
        bool,
        typer.Option(
            "--resolve",
            help="Look the pinned hosts up: in config dumps (-f), or without -f in the cluster (which pod, "
            "node, ready; none: a stale session).",
        ),
    ] = False,
    files: Annotated[
        list[str] | None,
        typer.Option("--file", "-f", metavar="DUMP", help="Envoy config dump for --resolve; repeatable."),
    ] = None,
    now: Annotated[
        int | None,
        typer.Option("--now", metavar="UNIX_TIME", hidden=True, help="Unix time to judge expiry against (tests)."),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("-n", "--namespace", metavar="NAMESPACE", rich_help_panel=LOOKUP,
                     help="Only pods in this namespace. \\[default: all namespaces]"),
    ] = None,
    contexts: Annotated[
        list[str] | None,
        typer.Option("--context", metavar="CONTEXT", rich_help_panel=LOOKUP,
                     help="Kube context to look in; repeatable. \\[default: the current context]"),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option("--kubeconfig", metavar="FILE", rich_help_panel=LOOKUP,
                     help="Kubeconfig file. \\[default: $KUBECONFIG, ~/.kube/config, or in-cluster config]"),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="SECONDS", rich_help_panel=LOOKUP,
                     help="Seconds to wait for the Kubernetes API."),
    ] = 10.0,
) -> None:
    """Decode Envoy session values (header or cookie) to the upstream host they pin."""
    from stickyctl.envoy.session_values import Rejected, SessionValue

    env = ctx.ensure_object(Environment)
    try:
        decoded = _read_inputs(values or [], names or [])
        moment = time.time() if now is None else now
        valid = [v for v in decoded if isinstance(v, SessionValue)]
        endpoints = None
        live = resolve and not files
        if resolve and files:
            endpoints = _resolve_in_dumps(valid, files)
        elif resolve:
            endpoints = _resolve_live(valid, namespace=namespace, contexts=contexts or [], kubeconfig=kubeconfig,
                                      timeout=timeout)
        elif files:
            raise UsageError("-f/--file is read only with --resolve")
        elif given := live_opts.given(ctx, LOOKUP_FLAGS):
            raise UsageError(f"{given[0]} applies to --resolve (a cluster lookup)")
    except StickyError as exc:
        env.error(str(exc))
        raise typer.Exit(int(exc.exit_status)) from None

    if all(isinstance(v, Rejected) and v.not_found for v in decoded):
        # Nothing to tabulate: say so once (rows of "-  invalid" per word would read as values).
        if output is not OutputFormat.TABLE:
            write_document(env, decode_document(decoded, moment, endpoints), output)
        for reason in dict.fromkeys(v.reason for v in decoded if isinstance(v, Rejected)):
            env.error(reason)
        raise typer.Exit(int(ExitStatus.FINDINGS))
    if output is OutputFormat.TABLE:
        _print_table(env, decoded, moment, endpoints, live=live)
    else:
        write_document(env, decode_document(decoded, moment, endpoints), output)

    # Envoy ignores an invalid value and an expired cookie alike: the request is re-balanced.
    unusable = [v for v in decoded if not isinstance(v, SessionValue) or v.expired(moment)]
    if endpoints is not None:
        # A pinned host that is no endpoint of any checked cluster is a stale session: re-balanced too.
        stale = [v for v in decoded if isinstance(v, SessionValue) and not endpoints.get((v.address, v.port))]
        for v in stale:
            where = ": no pod in the cluster has this IP" if live else " is not an endpoint in the given dumps"
            env.error(f"{v.upstream}{where}: a stale session, Envoy re-balances it")
        unusable += [v for v in stale if v not in unusable]
    if unusable:
        env.error(unusable_summary(len(unusable), len(decoded)))
        raise typer.Exit(int(ExitStatus.FINDINGS))


def unusable_summary(unusable: int, total: int) -> str:
    if total == 1:
        return "the value is not usable: Envoy would ignore it"
    if unusable == total:
        return f"none of the {total} values is usable: Envoy would ignore them"
    verb = "is" if unusable == 1 else "are"
    return f"{unusable} of {total} values {verb} not usable: Envoy would ignore {'it' if unusable == 1 else 'them'}"


def _read_inputs(values: list[str], names: list[str]) -> list[DecodedValue]:
    from stickyctl.envoy.session_values import parse_session_input

    if not values:
        raise UsageError("no input: give a session value, a header line, or '-' to read stdin")
    if values.count("-") > 1:
        raise UsageError("stdin ('-') can be read only once")
    decoded: list[DecodedValue] = []
    for value in values:
        if value == "-":
            data = _read_stdin()
            if not data.strip():
                raise UsageError("no input on stdin")
            decoded.extend(parse_session_input(data, names))
        else:
            decoded.extend(parse_session_input(value, names))
    return decoded


DECODE_STDIN_MAX_BYTES = 16 << 20
"""stdin is a transcript or a few headers, not a dump: reading (and searching) at most 16 MiB keeps
`decode - < /dev/zero` or a huge body bounded in memory and time (STICKYCTL_MAX_INPUT_BYTES sets it)."""


def _read_stdin() -> bytes:
    import os

    limit = DECODE_STDIN_MAX_BYTES
    with contextlib.suppress(ValueError):
        limit = int(os.environ.get("STICKYCTL_MAX_INPUT_BYTES") or limit)
    stream = sys.stdin
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        data = bytes(buffer.read(limit + 1))
    else:
        data = stream.read(limit + 1).encode("utf-8", errors="surrogateescape")
    if len(data) > limit:
        raise StickyError(f"stdin: larger than {limit} bytes; not read (set STICKYCTL_MAX_INPUT_BYTES to allow "
                          "larger inputs)")
    return data


def _addresses(values: list[SessionValue]) -> list[tuple[str, int]]:
    return list(dict.fromkeys((v.address, v.port) for v in values))


def _resolve_in_dumps(values: list[SessionValue], files: list[str]) -> Endpoints:
    """``--resolve -f DUMP``: the endpoints of the config dumps each pinned host belongs to.

    Endpoints come from ``include_eds`` dumps (stickyctl.envoy.endpoints).
    """
    from stickyctl.envoy.endpoints import resolve_addresses

    found: Endpoints = resolve_addresses(list(files), _addresses(values))
    return found


def _resolve_live(values: list[SessionValue], *, namespace: str | None, contexts: list[str],
                  kubeconfig: str | None, timeout: float) -> Endpoints:
    """``--resolve`` without ``-f``: the pods that have each pinned IP, from the API (stickyctl.kube.resolve)."""
    live_opts.require_live_dependencies("decode --resolve without -f")
    from stickyctl.kube.resolve import resolve_pods

    return resolve_pods(_addresses(values), kubeconfig=kubeconfig, contexts=list(contexts), namespace=namespace,
                        timeout=timeout)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _origin_document(origin: ValueOrigin) -> dict[str, Any]:
    return {"name": origin.name, "source": origin.kind, "direction": origin.direction}


def value_document(value: DecodedValue, now: float, endpoints: Endpoints | None = None) -> dict[str, Any]:
    """One decoded value as data (see ``decode_document``)."""
    from stickyctl.envoy.session_values import Rejected

    document: dict[str, Any] = {"input": value.raw, **_origin_document(value.origin)}
    if isinstance(value, Rejected):
        document.update(valid=False, reason=value.reason)
        return document
    document.update(
        valid=True,
        form=value.form,
        address=value.address,
        port=value.port,
        ip_version=value.ip_version,
        upstream=value.upstream,
        expires=value.expires,
        expires_at=_iso(value.expires_at) if value.expires_at else None,
        expired=value.expired(now),
    )
    if value.origin.kind == "set-cookie":
        document.update(max_age=value.origin.max_age, path=value.origin.path)
    if value.form == "envelope":
        document["wrapped"] = value.wrapped
    if value.internal_listener is not None:
        document["internal_listener"] = value.internal_listener
    if endpoints is not None:
        document["endpoints"] = endpoints.get((value.address, value.port), [])
    return document


def decode_document(
    values: list[DecodedValue], now: float, endpoints: Endpoints | None = None
) -> dict[str, Any]:
    """The ``decode -o json|yaml`` document, schema version 1.

    ``{"schema_version": 1, "values": [...]}``; each value has ``input`` (the value as found, cookie
    quotes removed), ``name`` (header or cookie name, or null), ``source`` (value | header |
    set-cookie | cookie), ``direction`` (request | response | null, from ``curl -v``) and ``valid``.
    Valid values add ``form`` (header | cookie | cookie-legacy | envelope), ``address``, ``port``,
    ``ip_version``, ``upstream`` (the host as Envoy spells it: ``IP:port``, or
    ``envoy://<listener>/IP:port`` for an Envoy internal address), ``expires`` (as written, or
    null), ``expires_at`` (ISO UTC, null when absent or not a Unix time) and ``expired`` (bool, null
    when unknowable); Set-Cookie values add ``max_age`` and ``path``; envelope values add
    ``wrapped``; values pinning an Envoy internal address add ``internal_listener`` (``address`` and
    ``port`` are then its endpoint id); with ``--resolve``, ``endpoints``. Invalid values add ``reason``.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "values": [value_document(v, now, endpoints) for v in values],
    }


def _relative(seconds: float) -> str:
    amount = abs(int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if amount >= size:
            text = f"{amount // size}{unit}"
            break
    else:
        text = f"{amount}s"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def expiry_text(value: SessionValue, now: float) -> str:
    """``expires 2026-11-27T12:17:48Z (in 17m)``, or why no time can be given."""
    if value.expires is None:
        return "no expiry" if value.form == "cookie" else ""
    if value.expires_at is None:
        return f"expires {value.expires} (not a Unix time: an older Envoy's monotonic clock)"
    when = f"{_iso(value.expires_at)} ({_relative(value.expires - now)})"
    if value.expired(now):
        return f"expired {when}: Envoy ignores it and re-balances"
    return f"expires {when}"


def _source_text(origin: ValueOrigin) -> str:
    label = {"value": "", "header": "", "set-cookie": "Set-Cookie", "cookie": "Cookie"}[origin.kind]
    return " ".join(part for part in (label, origin.name) if part) or "-"


def _detail_text(value: SessionValue, now: float) -> str:
    parts = [expiry_text(value, now)]
    if value.origin.kind == "set-cookie":
        if value.origin.max_age is not None:
            parts.append(f"Max-Age {value.origin.max_age}")
        if value.origin.path is not None:
            parts.append(f"Path {value.origin.path}")
    if value.wrapped is not None:
        parts.append(f"wraps {value.wrapped!r}")
    if value.internal_listener is not None:
        # Istio's gateways have such hosts when istiod sends a Service's endpoints as HBONE tunnels
        # (to its waypoint with istio.io/ingress-use-waypoint: STK0107).
        parts.append(f"internal listener {value.internal_listener!r}: a tunnel (HBONE in Istio) to {value.endpoint}")
    return ", ".join(part for part in parts if part)


def _endpoint_notes(found: list[dict[str, Any]], live: bool = False) -> list[str]:
    if live:
        if not found:
            return ["pod: none has this IP (a stale session: Envoy re-balances it)"]
        return ["pod: " + " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in entry.items()
                                   if v is not None) for entry in found]
    if not found:
        return ["endpoint: not in the dumps"]
    return ["endpoint: " + " ".join(f"{k}={v}" for k, v in entry.items() if v is not None) for entry in found]


def _print_table(
    env: Environment, values: list[DecodedValue], now: float, endpoints: Endpoints | None, *, live: bool = False
) -> None:
    """One aligned row per value (UPSTREAM FORM FROM VALUE) and, indented under it, what else there is
    to say: expiry, cookie attributes, the reason Envoy would ignore it, the endpoint it resolves to.
    Lines are never cut or wrapped by us, so the upstream and the reason are always greppable."""
    from stickyctl.envoy.session_values import SessionValue
    from stickyctl.sanitize import printable

    rows: list[tuple[list[str], list[str], bool]] = []
    for value in values:
        if isinstance(value, SessionValue):
            expired = bool(value.expired(now))
            cells = [value.upstream, value.form, _source_text(value.origin), value.raw]
            notes = [_detail_text(value, now)]
            if endpoints is not None:
                notes.extend(_endpoint_notes(endpoints.get((value.address, value.port), []), live))
            rows.append((cells, [n for n in notes if n], expired))
        else:
            cells = ["-", "invalid", _source_text(value.origin), value.raw]
            rows.append((cells, [value.reason], True))
    # Values and names come from pasted transcripts: escape control characters (ANSI sequences).
    rows = [([printable(c) for c in cells], [printable(n) for n in notes], bad) for cells, notes, bad in rows]
    header = ["UPSTREAM", "FORM", "FROM", "VALUE"]
    widths = [max(len(cells[i]) for cells in [header, *(r[0] for r in rows)]) for i in range(3)]
    indent = " " * (widths[0] + 3)
    def line(cells: list[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:3], widths, strict=True)]
        return "   ".join(padded) + "   " + cells[3]

    out = [env.paint(line(header), "bold")]
    for cells, notes, bad in rows:
        text = line(cells)
        out.append(env.paint(text[: len(cells[0])], "bold") + text[len(cells[0]):])
        out.extend(env.paint(indent + note, "red" if bad else "") for note in notes)
    env.write("\n".join(line.rstrip() for line in out) + "\n")


def encode(
    ctx: typer.Context,
    upstream: Annotated[
        str, typer.Argument(metavar="IP:PORT", help="The host to pin: 10.244.1.4:5000 or [fd00::1]:8080.")
    ],
    cookie: Annotated[
        bool,
        typer.Option(
            "--cookie", help="Cookie value (Envoy >= 1.27 protobuf form) instead of a header value."
        ),
    ] = False,
    ttl: Annotated[
        int | None,
        typer.Option("--ttl", metavar="SECONDS", help="Cookie TTL: the value expires now + SECONDS."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help="Print a whole request header line for curl -H: 'NAME: VALUE', or 'Cookie: NAME=VALUE'.",
        ),
    ] = None,
    output: Annotated[
        TextOrDocument, typer.Option("--output", "-o", metavar="FORMAT", help="text | json | yaml.")
    ] = OutputFormat.TEXT,
    now: Annotated[
        int | None, typer.Option("--now", metavar="UNIX_TIME", hidden=True, help="Unix time for --ttl (tests).")
    ] = None,
) -> None:
    """Print the session value that pins requests to one upstream host (what Envoy 1.40 writes)."""
    from stickyctl.envoy.session_values import encode_cookie, encode_header, parse_upstream

    env = ctx.ensure_object(Environment)
    try:
        if ttl is not None and not cookie:
            raise ValueError("--ttl applies to --cookie values")
        ip, port = parse_upstream(upstream)
        moment = int(time.time()) if now is None else now
        value = encode_cookie(ip, port, ttl, moment) if cookie else encode_header(ip, port)
    except ValueError as exc:
        env.error(str(exc))
        raise typer.Exit(int(ExitStatus.USAGE)) from None

    line = value
    if name is not None:
        line = f"Cookie: {name}={value}" if cookie else f"{name}: {value}"
    if output is OutputFormat.TEXT:
        env.write(line + "\n")
        return

    from stickyctl.envoy.session_values import SessionValue, decode_cookie_value, decode_header_value
    decoded = decode_cookie_value(value) if cookie else decode_header_value(value)
    assert isinstance(decoded, SessionValue), decoded  # what Envoy writes always decodes
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "value": value,
        "form": decoded.form,
        "upstream": decoded.upstream,
        "expires": decoded.expires,
        "expires_at": _iso(decoded.expires_at) if decoded.expires_at else None,
        "request_header": line if name is not None else None,
    }
    write_document(env, document, output)
