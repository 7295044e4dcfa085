"""The live-cluster flags (kubectl-style) of `check`, `dump` and `decode --resolve`, and the live check.

The flags are added to those commands by their command class (``cls=``), so the commands' own
signatures stay as they are: the class appends the options and, while the command runs, keeps
their values where :func:`flags` finds them. Nothing here imports the
``kubernetes`` client: that happens only when a live check or dump actually runs.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import typer

from stickyctl.cli import env as envmod
from stickyctl.cli.help import Command
from stickyctl.errors import UsageError

if TYPE_CHECKING:
    from stickyctl.checks.engine import CheckOptions
    from stickyctl.kube.collect import LiveOptions
    from stickyctl.report.model import CheckReport

PANEL = "Live cluster (when no -f/--admin-url/--sample is given)"


def _live_flags(
    namespace: str | None = typer.Option(
        None, "-n", "--namespace", metavar="NAMESPACE", rich_help_panel=PANEL,
        help="Namespace of the gateway pods. \\[default: the kube context's namespace]",
    ),
    all_namespaces: bool = typer.Option(
        False, "-A", "--all-namespaces", rich_help_panel=PANEL, help="Gateway pods in every namespace.",
    ),
    selector: str | None = typer.Option(
        None, "-l", "--selector", metavar="SELECTOR", rich_help_panel=PANEL,
        help="Label selector for the proxy pods, instead of every pod whose istio-proxy runs as a gateway.",
    ),
    pods: list[str] = typer.Option(
        [], "--pod", metavar="NAME", rich_help_panel=PANEL, help="Only this pod (in -n); repeatable.",
    ),
    contexts: list[str] = typer.Option(
        [], "--context", metavar="CONTEXT", rich_help_panel=PANEL,
        help="Kube context to read; repeatable for several clusters. \\[default: the current context]",
    ),
    kubeconfig: str | None = typer.Option(
        None, "--kubeconfig", metavar="FILE", rich_help_panel=PANEL,
        help="Kubeconfig file. \\[default: $KUBECONFIG, ~/.kube/config, or in-cluster config in a pod]",
    ),
    istio_namespace: str = typer.Option(
        "istio-system", "-i", "--istio-namespace", metavar="NAMESPACE", rich_help_panel=PANEL,
        help="Namespace of the istiod Deployments (every revision is read).",
    ),
    proxy_admin_port: int = typer.Option(
        15000, "--proxy-admin-port", metavar="PORT", rich_help_panel=PANEL, help="Envoy's admin port in the pods.",
    ),
    concurrency: int = typer.Option(
        8, "--concurrency", metavar="N", rich_help_panel=PANEL, help="Pods read at the same time.",
    ),
    via: str = typer.Option(
        "port-forward", "--via", metavar="port-forward|exec", rich_help_panel=PANEL,
        help="How to reach Envoy's admin API: port-forward (create pods/portforward), or exec "
             "`pilot-agent request GET` in istio-proxy (create pods/exec) where port-forward is forbidden.",
    ),
    allow_partial: bool = typer.Option(
        False, "--allow-partial", rich_help_panel=PANEL,
        help="Targets that cannot be read are still reported (STK0001), but exit 1 rather than 3 when some "
             "proxies were checked.",
    ),
) -> None:
    """(parameter declarations only)"""


def _from_flag(
    from_dir: str | None = typer.Option(
        None, "--from", metavar="DIR", rich_help_panel=PANEL,
        help="Check a snapshot written by `stickyctl dump` (same findings as the live check it recorded).",
    ),
) -> None:
    """(parameter declarations only)"""


def _resolve_flags(
    namespace: str | None = typer.Option(
        None, "-n", "--namespace", metavar="NAMESPACE", rich_help_panel="Live lookup (--resolve without -f)",
        help="Only pods in this namespace. \\[default: all namespaces]",
    ),
    contexts: list[str] = typer.Option(
        [], "--context", metavar="CONTEXT", rich_help_panel="Live lookup (--resolve without -f)",
        help="Kube context to look in; repeatable. \\[default: the current context]",
    ),
    kubeconfig: str | None = typer.Option(
        None, "--kubeconfig", metavar="FILE", rich_help_panel="Live lookup (--resolve without -f)",
        help="Kubeconfig file. \\[default: $KUBECONFIG, ~/.kube/config, or in-cluster config]",
    ),
    timeout: float = typer.Option(
        10.0, "--timeout", metavar="SECONDS", rich_help_panel="Live lookup (--resolve without -f)",
        help="Seconds to wait for the Kubernetes API.",
    ),
) -> None:
    """(parameter declarations only)"""


@cache
def _params(fn: Callable[..., None]) -> tuple[Any, ...]:
    """The click parameters typer builds for ``fn``'s signature (built once)."""
    import inspect

    scratch = typer.Typer(add_completion=False)
    scratch.command()(fn)
    names = set(inspect.signature(fn).parameters)
    return tuple(p for p in typer.main.get_command(scratch).params if p.name in names)


@dataclass
class Flags:
    values: dict[str, Any] = field(default_factory=dict)
    given: set[str] = field(default_factory=set)
    """Names of the flags set on the command line (not defaults)."""
    spellings: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


class _FlagsCommand(Command):
    extra: tuple[Callable[..., None], ...] = ()
    panel: str | None = None
    """The help panel of the added flags, when not the one they declare."""
    help_overrides: dict[str, str] = {}  # noqa: RUF012 - read-only, per class
    """Help of a flag where this command does something else with it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._extra = [self._adapted(p) for fn in self.extra for p in _params(fn)]
        self.params.extend(self._extra)

    def _adapted(self, param: Any) -> Any:
        if self.panel is None and param.name not in self.help_overrides:
            return param
        import copy

        param = copy.copy(param)  # the built parameters are shared by every command class (cached)
        if self.panel is not None:
            param.rich_help_panel = self.panel
        param.help = self.help_overrides.get(param.name, param.help)
        return param

    def invoke(self, ctx: Any) -> Any:
        flags = Flags()
        for p in self._extra:
            if p.name is None or p.name not in ctx.params:
                continue
            value = ctx.params.pop(p.name)
            flags.values[p.name] = list(value) if isinstance(value, tuple) else value
            source = ctx.get_parameter_source(p.name)
            if source is not None and source.name != "DEFAULT":
                flags.given.add(p.name)
            flags.spellings[p.name] = "/".join(p.opts)
        token = _CURRENT.set(flags)
        try:
            return super().invoke(ctx)
        finally:
            _CURRENT.reset(token)


class LiveCheckCommand(_FlagsCommand):
    """`check` with the live flags and --from."""

    extra = (_live_flags, _from_flag)


class LiveDumpCommand(_FlagsCommand):
    """`dump` reads the cluster only: its flags are not an alternative to -f/--admin-url there."""

    extra = (_live_flags,)
    panel = "Cluster"
    help_overrides = {  # noqa: RUF012
        "allow_partial": "Exit 0 when some pods cannot be read but one was (the snapshot is written either way; "
                         "`check --from` reports the unread pods as STK0001).",
    }


class ResolveCommand(_FlagsCommand):
    extra = (_resolve_flags,)


_CURRENT: contextvars.ContextVar[Flags | None] = contextvars.ContextVar("stickyctl_live_flags", default=None)


def flags() -> Flags:
    """The live flags of the command now running (empty outside such a command)."""
    return _CURRENT.get() or Flags()


def live_options(f: Flags, timeout: float) -> LiveOptions:
    from stickyctl.kube.collect import LiveOptions

    return LiveOptions(
        namespace=f.get("namespace"), all_namespaces=bool(f.get("all_namespaces", False)), selector=f.get("selector"),
        pods=list(f.get("pods") or []), contexts=list(f.get("contexts") or []), kubeconfig=f.get("kubeconfig"),
        istio_namespace=f.get("istio_namespace") or "istio-system",
        proxy_admin_port=int(f.get("proxy_admin_port", 15000)), timeout=timeout,
        concurrency=int(f.get("concurrency", 8)), via=str(f.get("via") or "port-forward"),
    )


def require_live_dependencies(what: str) -> None:
    try:
        import httpx  # noqa: F401
        import kubernetes  # noqa: F401
    except ImportError:
        raise UsageError(f"{what} needs the Kubernetes client and httpx (dependencies of stickyctl): "
                         "pip install kubernetes httpx") from None


def no_cluster_configured() -> bool:
    from stickyctl.kube.client import default_kubeconfig_present, in_cluster

    return not default_kubeconfig_present() and not in_cluster()


# ---------------------------------------------------------------------------------------------
# check


_CLUSTER_FLAGS = ("namespace", "all_namespaces", "selector", "pods", "contexts", "kubeconfig", "istio_namespace",
                  "proxy_admin_port", "concurrency", "via")


def _given_cluster_flags(f: Flags) -> list[str]:
    return [f.spellings.get(n, n) for n in _CLUSTER_FLAGS if n in f.given]


def run_check(options: CheckOptions, run: Callable[[CheckOptions], CheckReport]) -> CheckReport:
    """`check`: the files/admin URLs given, else a snapshot (--from), else the live cluster."""
    f = flags()
    env = envmod.current()
    cluster_flags = _given_cluster_flags(f)
    from_dir = f.get("from_dir")
    if from_dir is not None:
        if options.dumps or options.admin_urls:
            raise UsageError("--from DIR checks a snapshot: it does not combine with -f, --admin-url or --sample")
        if cluster_flags:
            raise UsageError(f"{cluster_flags[0]} applies to a live check, not to --from DIR (a recorded snapshot)")
        if options.services or options.istiod:
            raise UsageError("--services/--istiod: a snapshot carries the objects it was checked with")
        from stickyctl.checks.snapshot import check_snapshot
        from stickyctl.kube.snapshot import read_snapshot

        report = check_snapshot(read_snapshot(from_dir), options)
    elif options.dumps or options.admin_urls:
        if cluster_flags:
            raise UsageError(f"{cluster_flags[0]} applies to a live check (without -f, --admin-url or --sample)")
        report = run(options)
    else:
        if not cluster_flags and no_cluster_configured():
            raise UsageError("no input: give -f DUMP (repeatable, '-' for stdin), --admin-url URL or --sample "
                             "helloworld, or configure kubectl (no kubeconfig was found) to check the cluster")
        if options.services or options.istiod:
            raise UsageError("--services/--istiod: a live check reads the Services and istiod from the cluster")
        require_live_dependencies("checking a live cluster")
        from stickyctl.checks.snapshot import check_snapshot
        from stickyctl.kube.collect import collect

        snapshot = collect(live_options(f, options.timeout), options.keys, env)
        report = check_snapshot(snapshot, options)
    if f.get("allow_partial"):
        report = allow_partial(report)
    return report


def allow_partial(report: CheckReport) -> CheckReport:
    """--allow-partial: targets that could not be read stay reported (STK0001) but, when some proxy
    was checked, count as ordinary error findings: exit 1 (or 0 under --failure-threshold none)
    instead of 3. Unsupported input (STK0002) still exits 3."""
    if not report.proxies:
        return report  # nothing at all was checked: that stays "could not check"
    return dataclasses.replace(report, partial_ok=True)
