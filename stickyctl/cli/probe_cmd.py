"""`stickyctl probe URL`: do sessions stick, seen from the client side? (see stickyctl.probe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from stickyctl.cli import env as envmod
from stickyctl.errors import UsageError
from stickyctl.exitcodes import ExitStatus

EPILOG = (
    "Exit status: 0 probed (and --expect met); 1 --expect not met; 2 usage error (e.g. a scheme other than "
    "http/https); 3 the URL could not be probed (unreachable, timed out)."
)


def register(app: typer.Typer) -> None:
    from stickyctl.cli.help import Command

    app.command("probe", epilog=EPILOG, cls=Command)(probe)


def _parse_headers(values: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \t\r\n"):
            raise UsageError(f"-H {value!r}: expected 'Name: value'")
        if "\n" in rest or "\r" in rest:
            raise UsageError(f"-H {value!r}: a header value cannot hold a line break")
        out.append((name.strip(), rest.strip()))
    return tuple(out)


def _load_compare(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text() if path != "-" else __import__("sys").stdin.read()
        data = json.loads(text)
    except OSError as exc:
        raise UsageError(f"--compare {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--compare {path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema_version") is None or "mode" not in data:
        raise UsageError(f"--compare {path}: not the output of `stickyctl probe -o json`")
    return data


def probe(
    url: str = typer.Argument(..., metavar="URL", help="An http:// or https:// URL behind the gateway."),
    header: str | None = typer.Option(
        None, "--header", metavar="NAME", help="The session header the client uses. \\[default: detected]"
    ),
    cookie: str | None = typer.Option(
        None, "--cookie", metavar="NAME", help="The session cookie the client uses. \\[default: detected]"
    ),
    sessions_given: list[str] = typer.Option(
        [], "--session", metavar="VALUE",
        help="Use this session value instead of opening a session (repeatable; needs --header or --cookie).",
    ),
    sessions: int = typer.Option(1, "--sessions", metavar="K", help="Open K sessions (first requests without one)."),
    count: int | None = typer.Option(
        None, "--count", "-n", metavar="N",
        help="Requests per session, or per --hash-header key. \\[default: 20; 2 per key]",
    ),
    baseline: int | None = typer.Option(
        None, "--baseline", metavar="N",
        help="Requests without a session, for the spread. \\[default: --count; 0 with --hash-header]",
    ),
    backend_from: str | None = typer.Option(
        None, "--backend-from", metavar="header:NAME|regex:PATTERN",
        help="Tell the backend from a response header or the body (group 1) instead of the session value.",
    ),
    hash_header: str | None = typer.Option(
        None, "--hash-header", metavar="NAME",
        help="Consistent hashing: send keys in this header and record the backend each key reaches.",
    ),
    keys: int = typer.Option(20, "--keys", metavar="K", help="How many keys (key-0 …) with --hash-header."),
    compare: str | None = typer.Option(
        None, "--compare", metavar="FILE",
        help="An earlier `probe -o json`: reuse its sessions (or keys) and count those now on another backend.",
    ),
    expect: str | None = typer.Option(None, "--expect", metavar="sticky|spread",
                                      help="Exit 1 unless sessions stick (sticky) or requests spread (spread)."),
    rate: float = typer.Option(50.0, "--rate", metavar="PER_SECOND",
                               help="At most this many requests per second (max 1000)."),
    timeout: float = typer.Option(5.0, "--timeout", metavar="SECONDS", help="Seconds to wait for each response."),
    request_headers: list[str] = typer.Option(
        [], "-H", "--request-header", metavar="'Name: value'", help="Send this header too (repeatable), e.g. Host."
    ),
    follow_redirects: bool = typer.Option(
        False, "--follow-redirects",
        help="Also follow redirects to other hosts, ports or schemes (http/https only, at most 5 per request; "
             "the session and -H headers go along). Without it, only redirects within the URL's origin are followed.",
    ),
    output: str = typer.Option("table", "-o", "--output", metavar="FORMAT", help="table | json."),
) -> None:
    """Do sessions stick? Open a session, send requests carrying it, and count the backends reached."""
    from stickyctl import probe as pr

    env = envmod.current()
    if output not in ("table", "json"):
        raise UsageError(f"-o {output!r}: expected table or json")
    pr.check_url(url)
    if header and cookie:
        raise UsageError("give --header or --cookie, not both")
    if expect not in (None, "sticky", "spread"):
        raise UsageError(f"--expect {expect!r}: expected sticky or spread")
    if not 0 < rate <= pr.MAX_RATE:
        raise UsageError(f"--rate must be above 0 and at most {pr.MAX_RATE:g}")
    if not 0 < timeout <= 300:
        raise UsageError("--timeout must be above 0 and at most 300 seconds")
    if hash_header and (header or cookie or sessions_given):
        raise UsageError("--hash-header probes consistent hashing: it does not take --header/--cookie/--session")
    compare_doc = _load_compare(compare) if compare else None
    if compare_doc is not None:
        if (compare_doc.get("mode") == "hash") != bool(hash_header):
            want = "--hash-header NAME" if compare_doc.get("mode") == "hash" else "no --hash-header"
            raise UsageError(f"--compare {compare}: that probe was a {compare_doc.get('mode')} probe: use {want}")
        if compare_doc.get("backend_from") != backend_from:
            raise UsageError(
                f"--compare {compare}: that probe told backends by {compare_doc.get('backend_from') or 'session value'}"
                f"; pass the same --backend-from"
            )
    n = count if count is not None else (2 if hash_header else 20)
    base = baseline if baseline is not None else (0 if hash_header else n)
    for option, value in (("--count", n), ("--sessions", sessions), ("--keys", keys)):
        if not 1 <= value <= pr.MAX_COUNT:
            raise UsageError(f"{option} must be between 1 and {pr.MAX_COUNT}")
    if not 0 <= base <= pr.MAX_COUNT:
        raise UsageError(f"--baseline must be between 0 and {pr.MAX_COUNT}")
    opened = len(sessions_given) or sessions
    total = (keys * n if hash_header else opened * (n + 1)) + base
    if total > pr.MAX_TOTAL:
        raise UsageError(f"that is {total} requests; a probe sends at most {pr.MAX_TOTAL}")
    opts = pr.ProbeOptions(
        url=url,
        header=header,
        cookie=cookie,
        given_sessions=tuple(sessions_given),
        sessions=sessions,
        count=n,
        baseline=base,
        backend_from=pr.BackendFrom.parse(backend_from) if backend_from else None,
        hash_header=hash_header,
        keys=tuple(f"key-{i}" for i in range(keys)),
        compare=compare_doc,
        compare_path=compare,
        expect=expect,  # type: ignore[arg-type]
        rate=rate,
        timeout=timeout,
        request_headers=_parse_headers(request_headers),
        follow_redirects=follow_redirects,
    )
    report = pr.run_probe(opts)
    doc = report.to_json()
    if output == "json":
        env.write(json.dumps(doc, indent=2) + "\n")
    else:
        _render(_printable(doc), env)
    raise typer.Exit(int(ExitStatus.FINDINGS) if doc["exit_code"] else int(ExitStatus.OK))


def _printable(value: Any) -> Any:
    """Backend names and notes come from the responses of the server probed: escape control
    characters before they reach a terminal (JSON output escapes them itself)."""
    from stickyctl.sanitize import printable

    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(k) if isinstance(k, str) else k: _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _render(doc: dict[str, Any], env: envmod.Environment) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = env.console()
    t = doc["totals"]
    console.print(f"[bold]probe[/bold] {escape(doc['url'])}  ({doc['requests_sent']} requests, {doc['seconds']:.1f}s)")
    basis = f" (backends from {escape(doc['backend_from'])})" if doc["backend_from"] else ""
    if doc["mode"] == "hash":
        console.print(f"  keys        {t['keys']} keys in header {escape(doc['hash_header'])}{basis}")
        console.print(
            f"  per key     {t['consistent_keys']} of {t['keys']} stayed on one backend; {t['errors']} errors; "
            f"{t['backends']} backends reached"
        )
        spread = ", ".join(f"{escape(str(b))} ×{c}" for b, c in t["keys_per_backend"].items())
        console.print(f"  spread      {spread}", soft_wrap=True)
        if len(doc["keys"]) <= 40:
            table = Table(box=None, pad_edge=False, show_edge=False)
            columns = ("KEY", "BACKEND", "REQUESTS", "CONSISTENT") + (("BEFORE", "MOVED") if doc["compare"] else ())
            for column in columns:
                table.add_column(column, no_wrap=True)
            for k in doc["keys"]:
                row = [k["key"], str(k["backend"]), str(k["requests"]), "yes" if k["consistent"] else "no"]
                if doc["compare"]:
                    row += [str(k.get("previous_backend")), "yes" if k.get("moved") else "no"]
                table.add_row(*map(escape, row))
            console.print(table)
    else:
        session = doc["session"]
        if session:
            console.print(f"  session     {session['kind']} {escape(session['name'])} ({session['source']}){basis}")
        else:
            console.print("  session     none learned")
        if doc["sessions"]:
            console.print(
                f"  follow-ups  {t['requests']} requests over {t['sessions']} session(s): {t['pinned']} pinned, "
                f"{t['repinned']} re-pinned, {t['errors']} errors"
            )
            if len(doc["sessions"]) <= 20:
                table = Table(box=None, pad_edge=False, show_edge=False)
                columns = ("#", "BACKEND", "PINNED", "RE-PINNED", "ERRORS") + (
                    ("BEFORE", "MOVED") if doc["compare"] else ()
                )
                for column in columns:
                    table.add_column(column, no_wrap=True)
                for i, s in enumerate(doc["sessions"], 1):
                    first, now = str(s["initial_backend"]), str(s["backend"])
                    shown = first if first == now else f"{first} → {now}"
                    row = [str(i), shown, str(s["pinned"]), str(s["repinned"]), str(s["errors"])]
                    if doc["compare"]:
                        row += [str(s.get("previous_backend")), "yes" if s.get("moved") else "no"]
                    table.add_row(*map(escape, row))
                console.print(table)
    b = doc["baseline"]
    if b["requests"]:
        spread = ", ".join(f"{escape(str(k))} ×{v}" for k, v in b["backends"].items()) or "-"
        console.print(
            f"  baseline    {b['requests']} requests without a session: {b['distinct']} backends, {b['errors']} errors"
        )
        console.print(f"              {spread}", soft_wrap=True)
    if doc["compare"]:
        c = doc["compare"]
        share = f" ({c['share']:.1%})" if c["share"] is not None else ""
        what = "keys" if doc["mode"] == "hash" else "sessions"
        console.print(f"  compared    {c['moved']} of {c['compared']} {what} moved{share}")
    for note in doc["notes"]:
        console.print(f"  note        {escape(note)}", soft_wrap=True)
    if doc["expect"]:
        e = doc["expect"]
        verdict = "[green]met[/green]" if e["met"] else "[red]NOT met[/red]"
        console.print(f"  expect      {e['expectation']}: {verdict}: {escape(e['reason'])}")
