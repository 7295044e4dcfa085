"""`stickyctl check`: check recorded config dumps (and the Services they serve)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from stickyctl.catalog import Severity
from stickyctl.cli import live_opts
from stickyctl.cli.help import Command
from stickyctl.environment import Environment
from stickyctl.errors import UsageError, check_seconds
from stickyctl.exitcodes import INPUT_CODES
from stickyctl.istio.labels import COOKIE_LABEL, HEADER_LABEL, LabelKeys

SAMPLES = ("helloworld",)

_THRESHOLDS = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO, "none": None}


def sample_paths(name: str) -> tuple[str, str]:
    """The bundled sample's dump and Services (package data, so it works after a plain pip install)."""
    if name not in SAMPLES:
        raise UsageError(f"--sample {name!r}: unknown sample (available: {', '.join(SAMPLES)})")
    base = resources.files("stickyctl") / "samples" / name
    return str(Path(str(base / "dump.json"))), str(Path(str(base / "services.yaml")))


def _complete_sample(incomplete: str) -> list[str]:
    return [s for s in SAMPLES if s.startswith(incomplete)]


def _complete_output(incomplete: str) -> list[str]:
    from stickyctl.report.render import FORMATS

    return [f for f in FORMATS if f.startswith(incomplete)]


def _complete_output_file(incomplete: str) -> list[str]:
    from stickyctl.report.render import FORMATS

    return [f"{f}=" for f in FORMATS if f"{f}=".startswith(incomplete)] if "=" not in incomplete else []


def _complete_threshold(incomplete: str) -> list[str]:
    return [t for t in _THRESHOLDS if t.startswith(incomplete)]


def _complete_color(incomplete: str) -> list[str]:
    return [c for c in _COLORS if c.startswith(incomplete)]


_COLORS = ("auto", "always", "never")


def register(app: typer.Typer) -> None:
    @app.command(
        "check",
        cls=Command,
        epilog=(
            "Exit status: 0 nothing at or above the failure threshold; 1 findings at or above it; "
            "2 usage error; 3 a target could not be checked (STK0001/STK0002)."
        ),
    )
    def check(
        ctx: typer.Context,
        files: list[str] = typer.Option(
            [], "-f", "--file", metavar="FILE",
            help="Envoy config dump (admin /config_dump JSON/YAML, istioctl proxy-config output); repeatable; "
                 "'-' reads stdin.",
        ),
        admin_urls: list[str] = typer.Option(
            [], "--admin-url", metavar="URL",
            help="A running Envoy's admin API (e.g. after `kubectl port-forward POD 15000`); GET only, never "
                 "secrets; repeatable.",
        ),
        timeout: float = typer.Option(10.0, "--timeout", metavar="SECONDS",
                                      help="Seconds to wait for each admin request."),
        services: list[str] = typer.Option(
            [], "--services", metavar="FILE",
            help="Kubernetes manifests with the Services/ServiceEntries (kubectl get svc -A -o yaml, GitOps "
                 "files); repeatable. Without it, label agreement is not checked.",
        ),
        istiod: list[str] = typer.Option(
            [], "--istiod", metavar="FILE", help="istiod Deployment manifest(s), to check the persistent-session flag."
        ),
        sample: str | None = typer.Option(
            None, "--sample", metavar="NAME", help="Check a bundled recorded sample instead of files: helloworld.",
            autocompletion=_complete_sample,
        ),
        cookie_label: str | None = typer.Option(
            None, "--cookie-label", metavar="KEY",
            help=f"Label key istiod reads for cookies. \\[default: {COOKIE_LABEL}]",
        ),
        header_label: str | None = typer.Option(
            None, "--header-label", metavar="KEY",
            help=f"Label key istiod reads for headers. \\[default: {HEADER_LABEL}]",
        ),
        output: str | None = typer.Option(
            None, "-o", "--output", metavar="FORMAT",
            help="table | wide | json | yaml | sarif | junit | github. \\[default: table]",
            autocompletion=_complete_output,
        ),
        output_files: list[str] = typer.Option(
            [], "--output-file", metavar="FORMAT=PATH",
            help="Also write the report in FORMAT to PATH (atomically), e.g. sarif=stickyctl.sarif; repeatable.",
            autocompletion=_complete_output_file,
        ),
        query: str | None = typer.Option(None, "--query", metavar="JMESPATH",
                                         help="JMESPath expression applied to the json/yaml output."),
        failure_threshold: str | None = typer.Option(
            None, "--failure-threshold", metavar="SEVERITY",
            help="Lowest severity that makes the exit status 1: error | warning | info | none. \\[default: error]",
            autocompletion=_complete_threshold,
        ),
        suppress: list[str] = typer.Option(
            [], "--suppress", metavar="CODE[=GLOB]",
            help="Drop findings of CODE (optionally only those whose resource_id matches GLOB); repeatable, "
                 "added to the config file's.",
        ),
        color: str = typer.Option(
            "auto", "--color", metavar="WHEN", help="auto | always | never (NO_COLOR and FORCE_COLOR are honoured).",
            autocompletion=_complete_color,
        ),
        config_path: str | None = typer.Option(
            None, "--config", metavar="PATH",
            help="Config file to use instead of the one found from the working directory up "
                 "(.stickyctl.yaml, .stickyctl.yml, or pyproject.toml with \\[tool.stickyctl]).",
        ),
        isolated: bool = typer.Option(False, "--isolated", help="Ignore every config file."),
        # The live cluster (or --from DIR) when no -f/--admin-url/--sample is given.
        namespace: str | None = live_opts.namespace(),
        all_namespaces: bool = live_opts.all_namespaces(),
        selector: str | None = live_opts.selector(),
        pods: list[str] = live_opts.pods(),
        contexts: list[str] = live_opts.contexts(),
        kubeconfig: str | None = live_opts.kubeconfig(),
        istio_namespace: str = live_opts.istio_namespace(),
        proxy_admin_port: int = live_opts.proxy_admin_port(),
        concurrency: int = live_opts.concurrency(),
        via: str = live_opts.via(),
        allow_partial: bool = live_opts.allow_partial(),
        from_dir: str | None = live_opts.from_dir(),
    ) -> None:
        """Check config dumps for sticky-session mistakes: filter, per-route config, clusters, labels."""
        from stickyctl import config as configmod
        from stickyctl.checks.engine import CheckOptions, Suppression
        from stickyctl.checks.engine import check as run
        from stickyctl.cli import outputs
        from stickyctl.report.machine import check_query
        from stickyctl.report.render import FORMATS, QUERYABLE, render

        env = ctx.ensure_object(Environment)
        if color not in _COLORS:
            raise UsageError(f"--color {color!r}: expected auto, always or never")
        env.color = color
        # Flags first, then the config file, then the built-in defaults.
        cfg = configmod.resolve(config_path, isolated=isolated)
        failure_threshold = failure_threshold or cfg.failure_threshold or "error"
        output = output or cfg.output or "table"
        cookie_label = cookie_label or cfg.cookie_label or COOKIE_LABEL
        header_label = header_label or cfg.header_label or HEADER_LABEL
        if failure_threshold not in _THRESHOLDS:
            raise UsageError(f"--failure-threshold {failure_threshold!r}: expected error, warning, info or none")
        if output not in FORMATS:
            raise UsageError(f"-o {output!r}: unknown output format (choose from {', '.join(FORMATS)})")
        if query is not None and output not in QUERYABLE:
            raise UsageError("--query applies to -o json or -o yaml")
        if query is not None:
            check_query(query)
        extra_outputs = outputs.parse_all(output_files)
        dumps = list(files)
        svc_files = list(services)
        if sample is not None:
            dump, svc = sample_paths(sample)
            dumps.append(dump)
            svc_files.append(svc)
        check_seconds(timeout)
        if sum(1 for p in [*dumps, *svc_files, *istiod] if p == "-") > 1:
            raise UsageError("stdin ('-') can be read only once")
        options = CheckOptions(
            dumps=dumps,
            admin_urls=list(admin_urls),
            timeout=timeout,
            services=svc_files,
            istiod=list(istiod),
            keys=LabelKeys(cookie=cookie_label, header=header_label),
            failure_threshold=_THRESHOLDS[failure_threshold],
            suppress=[Suppression.parse(s) for s in (*cfg.suppress, *suppress)],
        )
        # No -f/--admin-url/--sample: the live cluster (or --from DIR); see stickyctl/cli/live_opts.py.
        cluster = live_opts.live_options(
            namespace=namespace, all_namespaces=all_namespaces, selector=selector, pods=pods, contexts=contexts,
            kubeconfig=kubeconfig, istio_namespace=istio_namespace, proxy_admin_port=proxy_admin_port,
            concurrency=concurrency, via=via, timeout=timeout)
        report = live_opts.run_check(env, options, run, cluster=cluster, from_dir=from_dir, partial=allow_partial,
                                     cluster_flags=live_opts.given(ctx, live_opts.CLUSTER_FLAGS))
        for f in report.findings:
            if f.code in INPUT_CODES:
                env.error(f.message)
        outputs.write_all(report, extra_outputs)
        render(report, output, env, query=query, inputs_on_stderr=True)
        raise typer.Exit(int(report.exit_status))
