"""``sdd sweeps …``: submit a grid of jobs, list, show, watch and cancel sweeps, and read their report."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import click

from sdd_client.cli_support import (
    EXIT_JOB_FAILED,
    connect,
    connection_options,
    console,
    fail,
    json_option,
    print_json,
    reports_errors,
    submission_options,
)
from sdd_client.client import SDDClient
from sdd_client.live_watch import watch
from sdd_client.models import JobStatus, SweepReport
from sdd_client.name_lookup import SWEEPS, resolve_id, resolve_names
from sdd_client.plot_formats import plot_format_of
from sdd_client.submit_flags import hyperparameter_options
from sdd_client.sweep_cost_table import cost_view
from sdd_client.sweep_flags import build_sweep_body, sweep_options
from sdd_client.sweep_report_markdown import report_markdown
from sdd_client.sweep_tables import report_view, sweep_detail, sweeps_table


@click.group("sweeps")
def sweeps_group() -> None:
    """Sweeps: one request for a grid of jobs (methods, β, scales, seeds, …) and a report comparing them.

    A SWEEP is its id, a unique prefix of its id (swp_ and at least 6 hex digits) or its name.
    """


def _hyperparameters_but_temperature(command: Any) -> Any:
    """``--epochs``, ``--lr``, …: every hyper-parameter flag but ``--temperature`` (a list here)."""
    return hyperparameter_options(command, exclude=frozenset({"temperature"}))


@sweeps_group.command("submit")
@sweep_options
@_hyperparameters_but_temperature
@submission_options("sweep", until="every member succeeded")
@json_option
@connection_options
@reports_errors
def submit_command(
    url: str | None,
    token: str | None,
    as_json: bool,
    idempotency_key: str | None,
    wait_: bool,
    poll: float,
    spec_file: Path | None,
    metadata: tuple[str, ...],
    **flags: Any,
) -> None:
    """Submit a sweep from --file and/or flags (several values make a grid field); prints the sweep id.

    \b
    sdd sweeps submit --dataset digits --student resnet8 --teacher-job JOB \\
        --methods kd,sd-kd --beta 1,2,4 --scales 1,2/1,2,4 --seeds 0,1,2 --epochs 30

    A search instead of a grid (trials drawn, pruned at rungs) comes from --file: {"base": ..., "search":
    {"trials": 8, "space": {"beta": {"low": 0.5, "high": 8, "log": true}}}}; flags then set the base job.
    """
    body = build_sweep_body(spec_file, flags, metadata)
    with connect(url, token) as client:
        if isinstance(body.get("base"), dict):
            body["base"] = resolve_names(client, body["base"])
        sweep = client.submit_sweep(body, idempotency_key=idempotency_key)
        click.echo(f"submitted {sweep.id}: {sweep.member_count} member jobs ({sweep.status})", err=True)
        if wait_:
            _watch_members(client, sweep.id, poll, stderr=as_json)
            sweep = client.get_sweep(sweep.id)
    print_json(sweep) if as_json else click.echo(sweep.id)
    if wait_ and sweep.status != JobStatus.SUCCEEDED:
        raise click.exceptions.Exit(EXIT_JOB_FAILED)


@sweeps_group.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many, newest first.")
@json_option
@connection_options
@reports_errors
def list_command(url: str | None, token: str | None, as_json: bool, limit: int) -> None:
    """Your sweeps, newest first."""
    with connect(url, token) as client:
        sweeps = list(itertools.islice(client.iter_sweeps(page_size=min(limit, 100)), limit))
    if as_json:
        print_json(sweeps)
    elif not sweeps:
        click.echo("no sweeps", err=True)
    else:
        console().print(sweeps_table(sweeps))


@sweeps_group.command("show")
@click.argument("sweep_id", metavar="SWEEP")
@json_option
@connection_options
@reports_errors
def show_command(url: str | None, token: str | None, as_json: bool, sweep_id: str) -> None:
    """One sweep: its grid, status, progress and every member job."""
    with connect(url, token) as client:
        sweep = client.get_sweep(resolve_id(client, SWEEPS, sweep_id))
    print_json(sweep) if as_json else console().print(sweep_detail(sweep))


@sweeps_group.command("watch")
@click.argument("sweep_id", metavar="SWEEP")
@click.option("--poll", type=float, default=2.0, show_default=True, help="Seconds between polls.")
@connection_options
@reports_errors
def watch_command(url: str | None, token: str | None, sweep_id: str, poll: float) -> None:
    """A live bar per member until all end, then the report's recommendation; exit 1 unless all succeeded."""
    with connect(url, token) as client:
        sweep_id = resolve_id(client, SWEEPS, sweep_id)
        try:
            _watch_members(client, sweep_id, poll)
        except KeyboardInterrupt:
            click.echo("stopped watching; the sweep keeps running on the server", err=True)
            raise click.exceptions.Exit(130) from None
        sweep = client.get_sweep(sweep_id)
    if sweep.status != JobStatus.SUCCEEDED:
        click.echo(f"{sweep.id} {sweep.status}", err=True)
        raise click.exceptions.Exit(EXIT_JOB_FAILED)


def _watch_members(client: SDDClient, sweep_id: str, poll: float, *, stderr: bool = False) -> None:
    sweep = client.get_sweep(sweep_id)
    out = console(stderr=stderr)
    watch(client, [job.id for job in sweep.members], poll=poll, console=out)
    out.print(f"recommendation: {client.sweep_report(sweep_id).recommendation.text}", highlight=False)


@sweeps_group.command("cancel")
@click.argument("sweep_id", metavar="SWEEP")
@json_option
@connection_options
@reports_errors
def cancel_command(url: str | None, token: str | None, as_json: bool, sweep_id: str) -> None:
    """Cancel every unfinished member: queued ones at once, running ones at their next batch."""
    with connect(url, token) as client:
        sweep = client.cancel_sweep(resolve_id(client, SWEEPS, sweep_id))
    if as_json:
        print_json(sweep)
        return
    click.echo(f"{sweep.id} {sweep.status}")
    for job in sweep.members:
        click.echo(f"  {job.id} {job.status}")


@sweeps_group.command("report")
@click.argument("sweep_id", metavar="SWEEP")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also draw every member's val top-1 curve into this .png or .svg file.",
)
@click.option(
    "--cost-plot",
    "cost_plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also draw top-1 against latency and parameters, Pareto frontiers marked, into this .png or .svg file.",
)
@click.option(
    "--within",
    type=click.FloatRange(min=0, max=100),
    help="Name the fastest student (CPU latency) at most this many points of top-1 below the teacher's.",
)
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the report as Markdown.")
@json_option
@connection_options
@reports_errors
def report_command(
    url: str | None,
    token: str | None,
    as_json: bool,
    sweep_id: str,
    plot_path: Path | None,
    cost_plot_path: Path | None,
    within: float | None,
    as_markdown: bool,
) -> None:
    """Which configuration, by how much, how sure: accuracy over seeds, the gain over KD with its 95%
    interval, accuracy against cost, per-class gains and a recommendation.

    \b
    sdd sweeps report SWEEP --within 1.0 --cost-plot cost.svg   # the fastest student ≤ 1 point below the teacher
    """
    if as_json and as_markdown:
        fail("invalid_options", "give --json or --markdown, not both")
    render = _plot_renderer(plot_path, "--plot") if plot_path is not None else None
    if cost_plot_path is not None:
        _plot_renderer(cost_plot_path, "--cost-plot")  # refused before any request, as --plot
    with connect(url, token) as client:
        report = client.sweep_report(resolve_id(client, SWEEPS, sweep_id), within=within)
        if render is not None and plot_path is not None:
            plot_path.write_bytes(render(client, report))
            click.echo(f"saved {plot_path}", err=True)
    if cost_plot_path is not None:
        from sdd_client.cost_plots import render_cost  # checked importable above

        fmt = plot_format_of(cost_plot_path)
        assert fmt is not None
        cost_plot_path.write_bytes(
            render_cost(report.cost, fmt, title=f"sweep {report.sweep_id}: accuracy against cost")
        )
        click.echo(f"saved {cost_plot_path}", err=True)
    if as_json:
        print_json(report)
    elif as_markdown:
        click.echo(report_markdown(report), nl=False)
    else:
        console().print(report_view(report))
        console().print(cost_view(report.cost))


def _plot_renderer(path: Path, option: str) -> Any:
    """What ``--plot PATH`` draws once the report is fetched; checked (also for ``--cost-plot``, whose
    drawing is ``sdd_client.cost_plots``') before any request is sent."""
    fmt = plot_format_of(path)
    if fmt is None:
        fail("invalid_plot_path", f"{option} must end in .png or .svg, not {path.name!r}", param=option)
    try:
        # Imported only for --plot: matplotlib is the client's optional `plot` extra.
        from sdd_client.plots import render_overlay
    except ImportError as exc:
        fail(
            "plot_unavailable",
            f"{option} needs matplotlib ({exc}); install the client's plot extra: pip install 'sdd-client[plot]'",
            param=option,
        )

    def render(client: SDDClient, report: SweepReport) -> bytes:
        groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for configuration in report.configurations:
            lines = groups.setdefault(configuration.label, {})
            for job_id in configuration.members:
                job = client.get(job_id)
                lines[f"seed {job.spec.seed} · {job.id}"] = [row.model_dump() for row in client.metrics(job_id)]
        return render_overlay(groups, fmt, title=f"sweep {report.sweep_id}: val top-1 per member")

    return render
