"""`stickyctl why`: does this request, with this session value, stick? Where does Envoy send it, and why?

Reads a config dump (``-f``, ``?include_eds`` for endpoints) or a running Envoy's admin API
(``--admin-url``: the config dump and ``/clusters?format=json``, GET only) and walks the request
through it (``stickyctl.why.engine``). httpx is imported only for ``--admin-url``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from stickyctl.environment import Environment
from stickyctl.errors import StickyError, UsageError
from stickyctl.exitcodes import ExitStatus

if TYPE_CHECKING:
    from stickyctl.envoy.model import Proxy
    from stickyctl.why.engine import Explanation
    from stickyctl.why.hosts import HostIndex

EPILOG = (
    "Exit status: 0 the request sticks to its pinned host (or it carries no session value and a route takes "
    "it); 1 re-balanced, unavailable (503) or no route (404); 2 usage error; 3 could not check (unreadable "
    "input, unreachable admin API, a matcher stickyctl cannot evaluate)."
)
_FORMATS = ("table", "json")
_COLORS = ("auto", "always", "never")


def register(app: typer.Typer) -> None:
    from stickyctl.cli.help import Command

    app.command("why", epilog=EPILOG, cls=Command)(why)


def why(
    ctx: typer.Context,
    url: str = typer.Option(..., "--url", metavar="URL",
                            help="The request's URL as the client sends it, e.g. http://GATEWAY/hello; its port picks "
                                 "the listener (80/443 map to Istio's 8080/8443)."),
    files: list[str] = typer.Option([], "-f", "--file", metavar="DUMP",
                                    help="Envoy config dump (config_dump?include_eds for endpoints; istioctl "
                                         "proxy-config output); repeatable for split files of one proxy."),
    admin_url: str | None = typer.Option(None, "--admin-url", metavar="URL",
                                         help="A running Envoy's admin API: the config dump and /clusters (host "
                                              "status, draining, outlier ejection); GET only."),
    headers: list[str] = typer.Option([], "--header", "-H", metavar="NAME:VALUE",
                                      help="A request header, e.g. x-session-header:MTAuMC4wLjE6ODA4MA==; "
                                           "Host:NAME sets :authority; repeatable."),
    cookies: list[str] = typer.Option([], "--cookie", "-b", metavar="NAME=VALUE",
                                      help="A request cookie; repeatable."),
    method: str = typer.Option("GET", "-X", "--request", metavar="METHOD", help="The request method."),
    listener: str | None = typer.Option(None, "--listener", metavar="NAME",
                                        help="Use this listener instead of the one the URL's port selects."),
    output: str = typer.Option("table", "-o", "--output", metavar="FORMAT", help="table | json."),
    timeout: float = typer.Option(10.0, "--timeout", metavar="SECONDS", help="Seconds to wait for each admin request."),
    color: str = typer.Option("auto", "--color", metavar="WHEN", help="auto | always | never."),
    now: int | None = typer.Option(None, "--now", metavar="UNIX_TIME", hidden=True,
                                   help="Unix time to judge cookie expiry against."),
    namespace: str | None = typer.Option(
        None, "-n", "--namespace", metavar="NAMESPACE", rich_help_panel="Live cluster (no -f/--admin-url)",
        help="Read the gateway pod's Envoy through a port-forward. \\[default: the kube context's namespace]"),
    pod: str | None = typer.Option(None, "--pod", metavar="POD", rich_help_panel="Live cluster (no -f/--admin-url)",
                                   help="The pod to ask. \\[default: the first gateway pod of the namespace]"),
    context: str | None = typer.Option(None, "--context", metavar="CONTEXT",
                                       rich_help_panel="Live cluster (no -f/--admin-url)", help="The kube context."),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", metavar="FILE",
                                          rich_help_panel="Live cluster (no -f/--admin-url)",
                                          help="The kubeconfig file."),
    proxy_admin_port: int = typer.Option(15000, "--proxy-admin-port", metavar="PORT",
                                         rich_help_panel="Live cluster (no -f/--admin-url)",
                                         help="Envoy's admin port in the pod."),
) -> None:
    """Predict whether one request with its session value sticks, and explain each step Envoy takes."""
    from stickyctl.why.engine import explain, to_document
    from stickyctl.why.request import RequestError, build_request

    env = ctx.ensure_object(Environment)
    if output not in _FORMATS:
        raise UsageError(f"-o {output!r}: expected table or json")
    if color not in _COLORS:
        raise UsageError(f"--color {color!r}: expected auto, always or never")
    env.color = color
    live = namespace is not None or pod is not None or context is not None or kubeconfig is not None
    if files and admin_url:
        raise UsageError("give the proxy's config one way: -f DUMP or --admin-url URL, or -n NAMESPACE [--pod POD]")
    if not files and not admin_url and not live:
        from stickyctl.cli.live_opts import no_cluster_configured, require_live_dependencies

        # As `check`: with nothing given and no cluster configured, it is a usage error, not "unreachable".
        if no_cluster_configured():
            raise UsageError("give the proxy's config: -f DUMP or --admin-url URL, or -n NAMESPACE [--pod POD] "
                             "with a kubeconfig (none was found)")
        require_live_dependencies("reading a live cluster")
    if (files or admin_url) and live:
        raise UsageError("-n/--pod/--context/--kubeconfig read a live cluster: not with -f or --admin-url")
    if not 0 < proxy_admin_port < 65536:
        raise UsageError("--proxy-admin-port must be a TCP port (1-65535)")
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    if files.count("-") > 1:
        raise UsageError("stdin ('-') can be read only once")
    try:
        request = build_request(url, headers, cookies, method)
    except RequestError as exc:
        raise UsageError(str(exc)) from None
    moment = float(time.time() if now is None else now)
    if files:
        proxy, host_index = _load_files(files)
    elif admin_url:
        proxy, host_index = _load_admin(admin_url, timeout)
    else:
        # The live cluster of the current kube context: one gateway pod's Envoy, port-forwarded.
        from stickyctl.kube.admin_relay import proxy_admin_url

        with proxy_admin_url(namespace=namespace, pod=pod, context=context, kubeconfig=kubeconfig,
                             port=proxy_admin_port, timeout=timeout) as (relay_url, label):
            env.warn(f"reading {label} through a port-forward to port {proxy_admin_port}")
            proxy, host_index = _load_admin(relay_url, timeout, label=label)
    try:
        explanation = explain(proxy, request, host_index, listener=listener, now=moment)
    except LookupError as exc:
        raise UsageError(str(exc.args[0])) from None
    if output == "json":
        from stickyctl.report.machine import to_json

        env.write(to_json(to_document(explanation, moment)))
    else:
        _print(env, explanation)
    raise typer.Exit(int(exit_status(explanation)))


def exit_status(x: Explanation) -> ExitStatus:
    if x.verdict == "sticks":
        return ExitStatus.OK
    if x.verdict == "rebalanced" and not x.value_given:
        return ExitStatus.OK  # no session value: a new session starts, as it should
    return ExitStatus.FINDINGS


def _one_proxy(proxies: list[Proxy], what: str) -> Proxy:
    if not proxies:
        raise StickyError(f"{what}: no proxy config found")
    if len(proxies) > 1:
        names = ", ".join(p.name for p in proxies)
        raise UsageError(f"{what} hold {len(proxies)} proxies ({names}): give the dump of one proxy")
    return proxies[0]


def _load_files(files: list[str]) -> tuple[Proxy, HostIndex | None]:
    from stickyctl.envoy.loader import load_file
    from stickyctl.envoy.model import build_proxies
    from stickyctl.why.hosts import from_dump

    parts = [load_file(path, full=True) for path in files]
    proxy = _one_proxy(build_proxies(parts), ", ".join(files))
    return proxy, from_dump(proxy)


def _load_admin(url: str, timeout: float, *, label: str | None = None) -> tuple[Proxy, HostIndex]:
    from stickyctl.envoy.admin import AdminClient
    from stickyctl.envoy.model import build_proxies
    from stickyctl.errors import InputError
    from stickyctl.why.hosts import from_admin_clusters

    with AdminClient(url, timeout=timeout, label=label) as client:
        parts = client.fetch_parts()
        clusters = client.get("clusters?format=json")
        proxy = _one_proxy(build_proxies([parts]), client.label)
        try:
            return proxy, from_admin_clusters(clusters, proxy)
        except ValueError as exc:
            raise InputError(client.label, f"GET /clusters?format=json: {exc}") from None


_STYLE = {"sticks": "bold green", "rebalanced": "bold yellow", "unavailable": "bold red", "no_route": "bold red"}


def _print(env: Environment, x: Explanation) -> None:
    """Each step on a line of its own (kind, name, detail), then the verdict and why; wrapped to the
    terminal between words only, under the text they continue (a cluster name is never cut)."""
    import shutil
    import textwrap

    width = max(shutil.get_terminal_size((80, 24)).columns, 40)
    prose = min(width, 100)
    column = max((len(s.kind) for s in x.trace), default=0) + 2
    lines: list[str] = []

    def wrapped(text: str, first: str, rest: str, style: str = "") -> None:
        parts = textwrap.wrap(text, prose, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                              break_on_hyphens=False) or [first]
        lines.extend(env.paint(part, style) for part in parts)

    for step in x.trace:
        head = env.paint(step.kind.ljust(column), "dim") + env.paint(step.name, "bold")
        detail = f" — {step.detail}" if step.detail else ""
        parts = textwrap.wrap(step.kind.ljust(column) + step.name + detail, prose,
                              subsequent_indent=" " * column, break_long_words=False, break_on_hyphens=False)
        lead = step.kind.ljust(column) + step.name
        if parts and parts[0].startswith(lead):
            lines.append(head + parts[0][len(lead):])
            lines.extend(parts[1:])
        else:  # a name with spaces that the line could not hold whole: unstyled, still whole words
            lines.extend(parts or [lead])
    if lines:
        lines.append("")
    style = "bold" if x.verdict == "rebalanced" and not x.value_given else _STYLE[x.verdict]
    wrapped(x.headline, "", "  ", style)
    wrapped(x.reason, "  ", "  ")
    if x.new_value is not None and x.verdict == "rebalanced":
        wrapped(f"the response carries a new session value: {x.new_value.text()}", "  ", "  ")
    for note in x.caveats:
        wrapped(f"note: {note}", "  ", "        ", "dim")
    env.write("\n".join(line.rstrip() for line in lines) + "\n")
