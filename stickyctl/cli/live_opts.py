"""The live-cluster flags (kubectl-style) of `check` and `dump`, and the live check.

Each flag is an ordinary typer option, declared once here and named in the signature of both
commands; `dump` lists them under a panel of its own, where they are no alternative to
-f/--admin-url. Nothing here imports the ``kubernetes`` client: that happens only when a live
check or dump actually runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import typer

from stickyctl.errors import UsageError

if TYPE_CHECKING:
    from stickyctl.checks.engine import CheckOptions
    from stickyctl.environment import Environment
    from stickyctl.kube.options import LiveOptions
    from stickyctl.report.model import CheckReport

PANEL = "Live cluster (when no -f/--admin-url/--sample is given)"

# Each returns the typer.Option to use as the parameter's default (typer.Option is typed Any).


def namespace(panel: str = PANEL) -> Any:
    return typer.Option(None, "-n", "--namespace", metavar="NAMESPACE", rich_help_panel=panel,
                        help="Namespace of the gateway pods. \\[default: the kube context's namespace]")


def all_namespaces(panel: str = PANEL) -> Any:
    return typer.Option(False, "-A", "--all-namespaces", rich_help_panel=panel, help="Gateway pods in every namespace.")


def selector(panel: str = PANEL) -> Any:
    return typer.Option(None, "-l", "--selector", metavar="SELECTOR", rich_help_panel=panel,
                        help="Label selector for the proxy pods, instead of every pod whose istio-proxy runs as a "
                             "gateway.")


def pods(panel: str = PANEL) -> Any:
    return typer.Option([], "--pod", metavar="NAME", rich_help_panel=panel, help="Only this pod (in -n); repeatable.")


def contexts(panel: str = PANEL) -> Any:
    return typer.Option([], "--context", metavar="CONTEXT", rich_help_panel=panel,
                        help="Kube context to read; repeatable for several clusters. \\[default: the current context]")


def kubeconfig(panel: str = PANEL) -> Any:
    return typer.Option(None, "--kubeconfig", metavar="FILE", rich_help_panel=panel,
                        help="Kubeconfig file. \\[default: $KUBECONFIG, ~/.kube/config, or in-cluster config in a "
                             "pod]")


def istio_namespace(panel: str = PANEL) -> Any:
    return typer.Option("istio-system", "-i", "--istio-namespace", metavar="NAMESPACE", rich_help_panel=panel,
                        help="Namespace of the istiod Deployments (every revision is read).")


def proxy_admin_port(panel: str = PANEL) -> Any:
    return typer.Option(15000, "--proxy-admin-port", metavar="PORT", rich_help_panel=panel,
                        help="Envoy's admin port in the pods.")


def concurrency(panel: str = PANEL) -> Any:
    return typer.Option(8, "--concurrency", metavar="N", rich_help_panel=panel, help="Pods read at the same time.")


def via(panel: str = PANEL) -> Any:
    return typer.Option("port-forward", "--via", metavar="port-forward|exec", rich_help_panel=panel,
                        help="How to reach Envoy's admin API: port-forward (create pods/portforward), or exec "
                             "`pilot-agent request GET` in istio-proxy (create pods/exec) where port-forward is "
                             "forbidden.")


def allow_partial(panel: str = PANEL, help: str | None = None) -> Any:
    return typer.Option(False, "--allow-partial", rich_help_panel=panel,
                        help=help or "Targets that cannot be read are still reported (STK0001), but exit 1 rather "
                                     "than 3 when some proxies were checked.")


def from_dir() -> Any:
    return typer.Option(None, "--from", metavar="DIR", rich_help_panel=PANEL,
                        help="Check a snapshot written by `stickyctl dump` (same findings as the live check it "
                             "recorded).")


CLUSTER_FLAGS = ("namespace", "all_namespaces", "selector", "pods", "contexts", "kubeconfig", "istio_namespace",
                 "proxy_admin_port", "concurrency", "via")
"""The parameters that choose what to read from a cluster (not --allow-partial, not --from)."""


def live_options(*, namespace: str | None, all_namespaces: bool, selector: str | None, pods: list[str],
                 contexts: list[str], kubeconfig: str | None, istio_namespace: str, proxy_admin_port: int,
                 concurrency: int, via: str, timeout: float) -> LiveOptions:
    from stickyctl.kube.options import LiveOptions

    return LiveOptions(
        namespace=namespace, all_namespaces=all_namespaces, selector=selector, pods=list(pods),
        contexts=list(contexts), kubeconfig=kubeconfig, istio_namespace=istio_namespace or "istio-system",
        proxy_admin_port=proxy_admin_port, timeout=timeout, concurrency=concurrency, via=via or "port-forward",
    )


def given(ctx: typer.Context, names: Iterable[str]) -> list[str]:
    """How the command line spells those of the parameters ``names`` it set (``-n/--namespace``),
    in the order of ``names``; defaults are not "set"."""
    spelled = {p.name: "/".join(p.opts) for p in ctx.command.params}
    out = []
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT":
            out.append(spelled.get(name, name))
    return out


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


def run_check(env: Environment, options: CheckOptions, run: Callable[[CheckOptions], CheckReport], *,
              cluster: LiveOptions, cluster_flags: list[str], from_dir: str | None,
              partial: bool) -> CheckReport:
    """`check`: the files/admin URLs given, else a snapshot (--from), else the live cluster.
    ``cluster_flags``: the cluster flags the command line set, as it spelled them (``given``)."""
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

        snapshot = collect(cluster, options.keys, env)
        report = check_snapshot(snapshot, options)
    if partial:
        report = allow_partial_report(report)
    return report


def allow_partial_report(report: CheckReport) -> CheckReport:
    """--allow-partial: targets that could not be read stay reported (STK0001) but, when some proxy
    was checked, count as ordinary error findings: exit 1 (or 0 under --failure-threshold none)
    instead of 3. Unsupported input (STK0002) still exits 3."""
    if not report.proxies:
        return report  # nothing at all was checked: that stays "could not check"
    return dataclasses.replace(report, partial_ok=True)
