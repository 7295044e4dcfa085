"""The `stickyctl` (and `kubectl-sticky`) application.

Each command module exposes ``register(app)``; this module wires them and turns expected errors
into one line on stderr with the documented exit code (never a traceback).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import typer

from stickyctl import KNOWN_ENVOY, KNOWN_ISTIO, __version__
from stickyctl.cli.help import Command, Group
from stickyctl.environment import Environment
from stickyctl.errors import StickyError, UsageError
from stickyctl.exitcodes import ExitStatus

app = typer.Typer(
    name="stickyctl",
    help="Verify Istio/Envoy strong sticky sessions: check config dumps, decode session values.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    cls=Group,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stickyctl {__version__} (knows Istio {KNOWN_ISTIO}, Envoy {KNOWN_ENVOY})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Verify Istio/Envoy strong sticky sessions: check config dumps, decode session values."""


@dataclass(frozen=True)
class CommandEntry:
    name: str
    module: str
    """The module of stickyctl.cli whose ``register(app)`` adds the command."""
    summary: str
    """Its line in `stickyctl --help`: the first line of its docstring, word for word."""


# The one command table, in help order. Only the module of the command being run is imported
# (`decode` between two curls must not pay for `lab` or `check`); shell completion and unknown
# commands register them all. Root help (and `stickyctl` alone) is built from the summaries, so it
# imports no command module and builds no command's options (a sixth of the start-up);
# tests/test_cli_app.py checks that it reads as the full app's does.
COMMANDS: tuple[CommandEntry, ...] = (
    CommandEntry("check", "check_cmd",
                 "Check config dumps for sticky-session mistakes: filter, per-route config, clusters, labels."),
    CommandEntry("dump", "dump_cmd",
                 "Record what `check` reads from the cluster into DIR; `check --from DIR` gives the same findings."),
    CommandEntry("decode", "sessions", "Decode Envoy session values (header or cookie) to the upstream host they pin."),
    CommandEntry("encode", "sessions",
                 "Print the session value that pins requests to one upstream host (what Envoy 1.40 writes)."),
    CommandEntry("explain", "catalog_cmds",
                 "Explain a check code: what it looks at, why it breaks sessions, how to fix it."),
    CommandEntry("checks", "catalog_cmds", "List every check code stickyctl can report."),
    CommandEntry("probe", "probe_cmd",
                 "Do sessions stick? Open a session, send requests carrying it, and count the backends reached."),
    CommandEntry("why", "why_cmd",
                 "Predict whether one request with its session value sticks, and explain each step Envoy takes."),
    CommandEntry("lab", "lab_cmds",
                 "Run a real Envoy gateway fed Istio-shaped xDS, with helloworld backends, on this machine."),
)
MODULES: tuple[str, ...] = tuple(dict.fromkeys(entry.module for entry in COMMANDS))
_MODULE_OF = {entry.name: entry.module for entry in COMMANDS}
_registered: set[str] = set()
_INDEX = "index"


def register(modules: tuple[str, ...] = MODULES) -> None:
    import importlib

    if _INDEX in _registered:
        # The index's entries would shadow the real commands: drop them first.
        app.registered_commands.clear()
        _registered.discard(_INDEX)
    for name in modules:
        if name not in _registered:
            importlib.import_module(f"stickyctl.cli.{name}").register(app)
            _registered.add(name)


def _register_index() -> None:
    """Only the command list, for root help: no command is run on this path (``_modules_for``)."""
    if _registered:
        register()  # some commands are real already (in-process runs): list them all, for real
        return

    def listed_only() -> None:
        raise UsageError("internal: a command of the help index was run; please report it")

    for entry in COMMANDS:
        app.command(entry.name, help=entry.summary, cls=Command)(listed_only)
    _registered.add(_INDEX)


def full_app() -> typer.Typer:
    """The app with every command (docs, completions, tests)."""
    register()
    return app


def _modules_for(argv: list[str]) -> tuple[str, ...] | None:
    """The command modules a run needs; None: none, only the root's help or --version."""
    import os

    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return MODULES  # click's shell completion protocol
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None:
        return None
    module = _MODULE_OF.get(first)
    return (module,) if module else MODULES  # an unknown command: click names the ones it knows


def main(env: Environment | None = None) -> None:
    """Run the command line in ``sys.argv`` with ``env`` (the process's streams when None): the
    command finds it as click's context object (``ctx.ensure_object(Environment)``)."""
    env = Environment() if env is None else env
    modules = _modules_for(sys.argv[1:])
    if modules is None:
        _register_index()
    else:
        register(modules)
    try:
        # standalone_mode=False: click returns typer.Exit's code instead of exiting; pass it on.
        rv = app(standalone_mode=False, prog_name=_prog_name(), obj=env)
        if rv == ExitStatus.INTERRUPTED:  # typer >= 0.29 turns Ctrl-C into Exit(130) by itself
            env.error("interrupted")
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except StickyError as exc:
        env.error(str(exc))
        sys.exit(int(exc.exit_status))
    except KeyboardInterrupt:
        env.error("interrupted")
        sys.exit(int(ExitStatus.INTERRUPTED))
    except BrokenPipeError:
        # `stickyctl check -o json | head`: the reader went away; that is not our error.
        sys.stderr.close()
        sys.exit(int(ExitStatus.OK))
    except (typer.TyperException, typer.Exit, typer.Abort) as exc:
        _handle_click(env, exc)
    except Exception as exc:  # a bug: still one line and "not checked", never a silent pass
        import os

        if os.environ.get("STICKYCTL_DEBUG"):
            raise
        env.error(f"internal error: {type(exc).__name__}: {exc} (STICKYCTL_DEBUG=1 shows the traceback; "
                  "please report it)")
        sys.exit(int(ExitStatus.UNCHECKED))


def run() -> None:
    """The console-script entry point: :func:`main`, then a quick exit.

    Once the output is written, tearing the interpreter down (freeing every module and object one
    by one) is work nobody waits for (ablate.py quick-exit: 1.05x wall on a 40k-Service check). So the
    exit handlers run (the kubernetes client's temporary-file cleanup, logging's flush), the
    standard streams are flushed, and the process ends. With other threads still alive the normal
    exit is kept: it waits for them.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    import atexit
    import contextlib
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (`| head`) or a stream main() closed: nothing more to write.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """What ``sys.exit(code)`` would make the process return."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _prog_name() -> str:
    import os

    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "stickyctl"
    return "kubectl sticky" if name.startswith("kubectl-sticky") else "stickyctl"


def _handle_click(env: Environment, exc: typer.TyperException | typer.Exit | typer.Abort) -> None:
    """What the CLI framework raised instead of running a command. typer (>= 0.29, pinned in
    pyproject.toml) vendors click: its usage errors are ``typer.TyperException``s, with click's
    ``exit_code`` (2) and ``format_message()``."""
    if isinstance(exc, typer.Exit):
        sys.exit(exc.exit_code or 0)
    if isinstance(exc, typer.Abort):
        env.error("aborted")
        sys.exit(int(ExitStatus.INTERRUPTED))
    message = usage_message(exc)
    if message:  # empty: a group run without a command, whose help click printed already
        env.error(message)
    sys.exit(exc.exit_code)


def usage_message(exc: typer.TyperException) -> str:
    """A command-line error from click in stickyctl's one style: ``stickyctl: error: <what> (see
    'stickyctl check -h')``, one line, as every other error (click's own is a four-line block)."""
    text = exc.format_message().strip()
    text = text.replace("Value error, ", "").rstrip(".")
    if not text:
        return ""
    text = text[:1].lower() + text[1:] if text[1:2].islower() or text[1:2] == " " else text
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or _command_path(sys.argv[1:])
    return f"{text} (see '{path} -h')"


def _command_path(argv: list[str]) -> str:
    """``stickyctl lab up`` from the command line, for errors click raises without a context."""
    words = [_prog_name()]
    positional = [arg for arg in argv if not arg.startswith("-")]
    if positional and positional[0] in _MODULE_OF:
        words.append(positional[0])
        if positional[0] == "lab" and len(positional) > 1:
            words.append(positional[1])
    return " ".join(words)
