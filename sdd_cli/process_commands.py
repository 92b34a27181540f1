"""``sdd api``, ``sdd worker`` and ``sdd up``: the service's long-running processes.

``sdd up`` is the embedded all-in-one: migrate, then run the API and one worker as child
processes (``python -m sdd_cli api|worker``) until a signal; a child that dies is restarted while
the other goes on serving. It says little: no line per request (``--access-log`` or
``SDD_ACCESS_LOG=true`` for them), no Alembic INFO, no Celery banner. ``sdd up --detach`` runs it
in the background and returns once it is ready (``sdd_cli.background_commands``: ``sdd logs``,
``sdd down``). ``sdd worker --gpus all|0,1,3`` runs one worker child per GPU of the node, each
pinned to its device (``worker.gpu_workers``). Both supervise with ``sdd_cli.supervisor``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

import click

from sdd_cli import background_commands
from sdd_cli.service_commands import load_settings
from sdd_cli.supervisor import ChildSpec, Supervisor
from sdd_cli.up_process import AlreadyRunning, recorded_as_running, running_pid

if TYPE_CHECKING:
    from service.settings import Settings

CHILD_MODULE = "sdd_cli"  # `python -m sdd_cli …` is `sdd …`
CHILD_STOP_TIMEOUT_S = 30.0


@click.command("api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    envvar="SDD_ACCESS_LOG",
    show_envvar=True,
    help="A log line per request.",
)
def api_command(host: str, port: int, log_level: str, access_log: bool) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn  # imported here: the other commands should not pay for the web stack

    from api.server_options import uvicorn_options  # the API's serving rules, loaded with the web stack
    from service.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format, log_level)  # uvicorn's loggers write through it (log_config=None)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,
        access_log=access_log,
        **uvicorn_options(settings),
    )


@click.command("worker")
@click.option("--concurrency", type=int, default=None, help="Training processes (default: SDD_WORKER_CONCURRENCY).")
@click.option(
    "--queues",
    default=None,
    help="Comma-separated queues (default: SDD_QUEUE_NAME, for --devices N its N-device queue, and "
    "SDD_INGESTION_QUEUE: training and dataset ingestion).",
)
@click.option("--log-level", "--loglevel", "log_level", default="info", show_default=True, help="As sdd api's.")
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
@click.option(
    "--gpus",
    default=None,
    metavar="all|0,1,3",
    help="One worker process per GPU, each pinned with CUDA_VISIBLE_DEVICES, restarted if it dies "
    "(concurrency 1 each unless --concurrency says otherwise).",
)
@click.option(
    "--devices",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Serve the jobs that ask for this many devices (a job's `devices`): each trains as that many "
    "torch.distributed ranks on this node (GPUs 0..N-1 of CUDA_VISIBLE_DEVICES, else CPU processes).",
)
@click.option("--hostname", default=None, hidden=True, help="Celery node name (set for each GPU worker).")
@click.option("--quiet", is_flag=True, hidden=True, help="No Celery banner or warning about root (sdd up's worker).")
def worker_command(
    concurrency: int | None,
    queues: str | None,
    log_level: str,
    pool: str,
    gpus: str | None,
    devices: int,
    hostname: str | None,
    quiet: bool,
) -> None:
    """Run a Celery worker that trains queued jobs (or, with --gpus, one per GPU)."""
    os.environ["SDD_WORKER_DEVICES"] = str(devices)  # what it serves, for its record in worker_nodes
    settings = load_settings()
    if gpus is not None and devices > 1:
        raise click.UsageError("--gpus starts one single-device worker per GPU; --devices N serves N-device jobs")
    if gpus is not None:
        _run_gpu_workers(
            gpus,
            concurrency=concurrency or 1,
            queues=queues,
            log_level=log_level,
            pool=pool,
            metrics_port=settings.worker_metrics_port,
        )
        return
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        click.echo(f"sdd worker: CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}", err=True)
    _claim_gpus(settings, devices, hostname)
    # Imported here: the worker modules load Celery and the training stack, which other commands do not need.
    from worker import logging_setup  # noqa: F401  (Celery's setup_logging receiver: SDD_LOG_FORMAT)
    from worker import metrics as worker_metrics

    if settings.worker_metrics_port:  # before any process of this worker imports prometheus_client
        worker_metrics.prepare(settings.home)
    from service.broker import celery_app, queue_for

    if quiet:  # sdd up's: its user cannot act on Celery's advice not to run as root
        from celery.exceptions import SecurityWarning

        warnings.filterwarnings("ignore", category=SecurityWarning)
    celery_app.worker_main(
        [
            *(["--quiet"] if quiet else []),  # Celery's global option: no banner
            "worker",
            f"--loglevel={log_level}",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            # By default its device count's training queue and the ingestion queue: `sdd up` ingests too.
            f"--queues={queues or f'{queue_for(settings.queue_name, devices)},{settings.ingestion_queue}'}",
            f"--pool={pool}",
            *([f"--hostname={hostname}"] if hostname else []),
        ]
    )


def _claim_gpus(settings: Settings, devices: int, hostname: str | None) -> None:
    """Claim the GPUs this worker's jobs train on (its first ``devices`` visible ones), or refuse to
    start when another worker of this node holds one (``worker.gpu_claims``)."""
    from worker.gpu_claims import GpuInUse, claim_gpus
    from worker.gpu_workers import visible_gpus

    gpus = visible_gpus()[:devices]
    if not gpus:  # a CPU node: its ranks and jobs train on the CPU
        return
    holder = f"sdd worker {hostname or ''} --devices {devices}".replace("  ", " ")
    try:
        claim = claim_gpus(gpus, settings.gpu_lock_dir, holder)
    except GpuInUse as exc:
        raise click.ClickException(str(exc)) from exc
    _claims.append(claim)  # held until this process exits
    click.echo(f"sdd worker: claimed GPU {', '.join(gpus)}", err=True)


_claims: list[Any] = []


def _run_gpu_workers(
    gpus: str, *, concurrency: int, queues: str | None, log_level: str, pool: str, metrics_port: int
) -> None:
    # Imported here like every worker module: `sdd --help` and the other commands load none of them.
    from worker.gpu_workers import GpuSelectionError, node_name, parse_gpus, pinned_environment

    try:
        devices = parse_gpus(gpus)
    except GpuSelectionError as exc:
        raise click.UsageError(str(exc)) from exc

    def child(index: int, device: str) -> ChildSpec:
        args = ["worker", "--concurrency", str(concurrency), "--log-level", log_level, "--pool", pool]
        args += ["--hostname", node_name(device), *(["--queues", queues] if queues else [])]
        environment = pinned_environment(device)
        if metrics_port:  # one exporter per GPU worker: SDD_WORKER_METRICS_PORT, the next port, ...
            environment["SDD_WORKER_METRICS_PORT"] = str(metrics_port + index)
        return ChildSpec(f"GPU {device}", child_command(*args), environment)

    click.echo(f"sdd worker: one worker per GPU on {', '.join(devices)}", err=True)
    children = [child(index, device) for index, device in enumerate(devices)]
    sys.exit(Supervisor(children, label="sdd worker").run())


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--concurrency", type=int, default=None, help="Worker training processes.")
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    envvar="SDD_ACCESS_LOG",
    show_envvar=True,
    help="A log line per request.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Run in the background, logging to $SDD_HOME/logs/sdd-up.log; return once the database is migrated, "
    "the API answers and a worker is alive (`sdd logs`, `sdd down`).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=background_commands.READY_TIMEOUT_S,
    show_default=True,
    help="With --detach: seconds to wait for it to be ready.",
)
def up_command(
    host: str, port: int, concurrency: int | None, pool: str, access_log: bool, detach: bool, timeout: float
) -> None:
    """Migrate, then run the API and a worker together until Ctrl-C or `sdd down` (a child that dies
    is restarted)."""
    settings = load_settings()
    other = running_pid(settings.home)
    if other is not None:
        raise click.ClickException(str(AlreadyRunning(settings.home, other)))
    background_commands.require_free_port(host, port)
    if detach:
        arguments = ["up", "--host", host, "--port", str(port), "--pool", pool]
        arguments += ["--access-log" if access_log else "--no-access-log"]
        if concurrency is not None:
            arguments += ["--concurrency", str(concurrency)]
        background_commands.start_detached(
            settings, child_command(*arguments), background_commands.local_url(host, port), timeout
        )
        return
    try:
        with recorded_as_running(settings.home):
            code = _serve(settings, host, port, concurrency, pool, access_log)
    except AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


def _serve(settings: Settings, host: str, port: int, concurrency: int | None, pool: str, access_log: bool) -> int:
    """Migrate, then supervise the API and a worker until a signal; the supervisor's exit status."""
    for name in ("alembic", "service.migrate"):  # before the import: Alembic's plugins log then
        logging.getLogger(name).setLevel(logging.WARNING)
    from service import migrate as migrations

    revision = migrations.upgrade(settings.database_url)
    click.echo(f"database at revision {revision}; starting API on http://{host}:{port} and a worker", err=True)
    api_args = ["api", "--host", host, "--port", str(port), "--access-log" if access_log else "--no-access-log"]
    worker_args = ["worker", "--pool", pool, "--quiet"]
    if concurrency is not None:
        worker_args += ["--concurrency", str(concurrency)]
    children = [ChildSpec("api", child_command(*api_args)), ChildSpec("worker", child_command(*worker_args))]
    return Supervisor(children, label="sdd up", stop_timeout_s=CHILD_STOP_TIMEOUT_S).run()


def child_command(*args: str) -> list[str]:
    """``sdd <args>`` as a child process of this one: the same interpreter, ``python -m sdd_cli``."""
    return [sys.executable, "-m", CHILD_MODULE, *args]


def register(group: click.Group) -> None:
    """Attach ``api``, ``worker``, ``up``, ``logs`` and ``down`` to the ``sdd`` group."""
    for command in (api_command, worker_command, up_command, background_commands.logs_command,
                    background_commands.down_command):  # fmt: skip
        group.add_command(command)
