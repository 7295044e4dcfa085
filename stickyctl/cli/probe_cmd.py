"""`stickyctl probe URL`: do sessions stick, seen from the client side? (see stickyctl.probe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from stickyctl.environment import Environment
from stickyctl.errors import UsageError
from stickyctl.exitcodes import ExitStatus

EPILOG = (
    "Exit status: 0 probed (and --expect met); 1 --expect not met, or every request failed (HTTP 4xx/5xx, "
    "resets, timeouts); 2 usage error (e.g. a scheme other than http/https); 3 the URL could not be probed "
    "(unreachable, timed out)."
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
    ctx: typer.Context,
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

    env = ctx.ensure_object(Environment)
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
    bar = ProgressBar(env, total) if output == "table" else None
    try:
        report = pr.run_probe(opts, progress=bar.phase if bar else None, on_request=bar.advance if bar else None)
    finally:
        if bar is not None:
            bar.close()
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


class ProgressBar:
    """A progress bar on stderr for a probe that runs longer than :attr:`DELAY` seconds (at the
    default rate, 41 requests take under one second: no bar). Transient: it is gone when the probe
    is done, and a stderr that is not a terminal (a CI log) never shows it."""

    DELAY = 2.0

    def __init__(self, env: Environment, total: int, *, clock: Any = None) -> None:
        import time

        self.env = env
        self.total = max(total, 1)
        self.clock = clock or time.monotonic
        self.started = self.clock()
        self.description = "requests"
        self._progress: Any = None
        self._task: Any = None

    def phase(self, text: str) -> None:
        self.description = text
        if self._progress is not None:
            self._progress.update(self._task, description=text)

    def advance(self, sent: int) -> None:
        if self._progress is None:
            if self.clock() - self.started < self.DELAY:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            console = self.env.err_console()
            if not console.is_terminal:  # a log file or a pipe: a bar there is only noise
                self.started = float("inf")
                return
            self._progress = Progress(
                TextColumn("probe"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                TimeRemainingColumn(), console=console, transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        self.total = max(self.total, sent)  # --compare may hold more sessions than counted ahead
        self._progress.update(self._task, completed=sent, total=self.total, description=self.description)

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


LABEL_WIDTH = 12
"""The label column of the human output (``follow-ups``): values start after it."""


def _render(doc: dict[str, Any], env: Environment) -> None:
    """The probe for a person: a heading, one labelled line (or wrapped paragraph) per fact, a
    table of sessions or keys. Lists (``127.0.0.11:5000 ×5, …``) and notes wrap between items and
    words only, so a backend or a URL is never cut."""
    from rich.text import Text

    console = env.console()
    width = console.width

    def line(text: str | Text = "") -> None:
        console.print(text, soft_wrap=True)

    def fact(label: str, text: str, *, items: list[str] | None = None, style: str = "") -> None:
        for i, part in enumerate(_wrapped(text, items, width - LABEL_WIDTH - 2)):
            head = f"  {label:<{LABEL_WIDTH}}" if i == 0 else " " * (LABEL_WIDTH + 2)
            line(Text.assemble(head, (part, style)))

    t = doc["totals"]
    failed = doc.get("requests_failed", 0)
    line(Text.assemble(("probe ", "bold"), (doc["url"], "bold")))
    outcome = "none failed" if not failed else (
        "all failed" if failed == doc["requests_sent"] else f"{failed} failed")
    fact("requests", f"{doc['requests_sent']} in {doc['seconds']:.1f}s, {outcome}",
         style="bold red" if failed and failed == doc["requests_sent"] else "")
    basis = f", backends from {doc['backend_from']}" if doc["backend_from"] else ""
    if doc["mode"] == "hash":
        fact("keys", f"{t['keys']} keys in header {doc['hash_header']}{basis}")
        fact("per key", f"{t['consistent_keys']} of {t['keys']} stayed on one backend; {_n(t['errors'], 'error')}; "
                        f"{_n(t['backends'], 'backend')} reached")
        spread = [f"{b} ×{c}" for b, c in t["keys_per_backend"].items()]
        fact("spread", "", items=spread)
        if len(doc["keys"]) <= 40:
            columns = ["KEY", "BACKEND", "REQUESTS", "CONSISTENT"] + (["BEFORE", "MOVED"] if doc["compare"] else [])
            rows = [[k["key"], str(k["backend"]), str(k["requests"]), "yes" if k["consistent"] else "no",
                     *([str(k.get("previous_backend")), "yes" if k.get("moved") else "no"] if doc["compare"] else [])]
                    for k in doc["keys"]]
            _table(line, columns, rows)
    else:
        session = doc["session"]
        if session:
            fact("session", f"{session['kind']} {session['name']} ({session['source']}){basis}")
        else:
            fact("session", "none learned")
        if doc["sessions"]:
            fact("follow-ups", f"{t['requests']} requests over {_n(t['sessions'], 'session')}: {t['pinned']} pinned, "
                               f"{t['repinned']} re-pinned, {_n(t['errors'], 'error')}")
            if len(doc["sessions"]) <= 20:
                columns = ["SESSION", "BACKEND", "PINNED", "RE-PINNED", "ERRORS"] + (
                    ["BEFORE", "MOVED"] if doc["compare"] else [])
                rows = []
                for i, s in enumerate(doc["sessions"], 1):
                    first, now = str(s["initial_backend"]), str(s["backend"])
                    rows.append([str(i), first if first == now else f"{first} → {now}", str(s["pinned"]),
                                 str(s["repinned"]), str(s["errors"]),
                                 *([str(s.get("previous_backend")), "yes" if s.get("moved") else "no"]
                                   if doc["compare"] else [])])
                _table(line, columns, rows)
    b = doc["baseline"]
    if b["requests"]:
        answered = b["requests"] - b["errors"]
        head = f"{b['requests']} requests without a session"
        if not answered:
            fact("baseline", f"{head}: every one failed")
        elif not b["distinct"]:
            fact("baseline", f"{head}: {answered} answered, by backends that cannot be told apart (see the note)")
        else:
            fact("baseline", f"{head} reached {_n(b['distinct'], 'backend')}, {_n(b['errors'], 'error')}:",
                 items=[f"{k} ×{v}" for k, v in b["backends"].items()])
    if doc["compare"]:
        c = doc["compare"]
        share = f" ({c['share']:.1%})" if c["share"] is not None else ""
        what = "keys" if doc["mode"] == "hash" else "sessions"
        fact("compared", f"{c['moved']} of {c['compared']} {what} moved{share}")
    if doc["expect"]:
        e = doc["expect"]
        verdict = "met" if e["met"] else "NOT met"
        fact("expect", f"{e['expectation']} ({verdict}): {e['reason']}", style="bold green" if e["met"] else "bold red")
    for note in doc["notes"]:
        fact("note", note, style="yellow")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun if count == 1 else noun + 's'}"


def _wrapped(text: str, items: list[str] | None, width: int) -> list[str]:
    """``text`` (then ``items``, comma-separated) in lines of at most ``width``, broken between
    words and items only (an item or a word longer than a line keeps a line of its own)."""
    import textwrap

    lines = textwrap.wrap(text, max(width, 20), break_long_words=False, break_on_hyphens=False) if text else []
    if items:
        current = ""
        for i, item in enumerate(items):
            piece = item + ("," if i < len(items) - 1 else "")
            if current and len(current) + 1 + len(piece) > width:
                lines.append(current)
                current = piece
            else:
                current = f"{current} {piece}" if current else piece
        lines.append(current)
    return lines or [""]


def _table(line: Any, columns: list[str], rows: list[list[str]]) -> None:
    """Aligned columns, two spaces apart, indented under the facts; cells are never cut."""
    from rich.text import Text

    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    line()
    for i, row in enumerate([columns, *rows]):
        text = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        line(Text("  " + text, style="bold" if i == 0 else ""))
    line()
