"""A small sdd-jobs cluster as real processes, for fault injection: tests/faults and benchmarks/faults.py.

Plain helpers with no pytest in them. One ``Cluster`` is a migrated PostgreSQL database, a private
``redis-server`` that can be killed and restarted empty on the same port, an ``SDD_HOME``, and
any number of ``sdd worker`` (and ``sdd api``) processes, each in a process group of its own so
that a fault can hit a worker with all its pool children::

    with running_postgres() as pg, Cluster.create(root, pg) as cluster:
        worker = cluster.start_worker()
        job_id = cluster.submit(tiny_spec(epochs=3))
        cluster.wait_for(lambda: cluster.job(job_id).epoch >= 1, 60, "epoch 1")
        cluster.kill(worker)                      # SIGKILL to the whole group
        ...
        cluster.check_no_loss(job_ids)            # every job terminal, no epoch recorded twice

Recovery is fast here: a 6 s lease, a reaper pass every second, lost messages re-sent after 3 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.jobs.job_request import JobRequest
from domain.jobs.submission import new_job_row, record_queued, submit_job
from domain.jobs.validation import validate_submission
from domain.sweeps.sweep_submission import group_key
from service.broker import celery_app, configure
from service.db.models import Job, JobEvent, JobMetric, Tenant
from service.db.session import dispose_engines, session_scope
from service.migrate import upgrade
from service.settings import Settings
from tests.e2e.service_processes import (
    ServiceProcess,
    sdd_command,
    service_environment,
    stop_processes,
    wait_until_ready,
)
from tests.fixtures.servers import PostgresServer, RedisServer, start_redis, stop_redis

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
WORKER_READY_LINE = "worker ready; re-enqueued"
WORKER_START_TIMEOUT_S = 120.0
RECOVERY_ENV = {
    "SDD_JOB_LEASE_SECONDS": "6",
    "SDD_REAPER_INTERVAL_SECONDS": "1",
    "SDD_REQUEUE_AFTER_SECONDS": "3",
    "SDD_JOB_MAX_ATTEMPTS": "5",
    "SDD_RATE_LIMIT_PER_MINUTE": "0",
    "SDD_MAX_JOBS_IN_FLIGHT": "0",
}


def tiny_spec(epochs: int = 3, student: str = "resnet8", seed: int = 0) -> dict[str, Any]:
    """A job as a tenant submits it (the POST /v1/jobs body): digits at 16 px, about 2 s an epoch for resnet8."""
    return {
        "dataset": "digits",
        "student": student,
        "method": "ce",
        "seed": seed,
        "image_size": 16,
        "hyperparameters": {"epochs": epochs, "batch_size": 256, "device": "cpu"},
    }


@dataclass
class Cluster:
    root: Path
    settings: Settings
    env: dict[str, str]
    redis: RedisServer
    tenant_id: str
    workers: list[ServiceProcess] = field(default_factory=list)
    others: list[ServiceProcess] = field(default_factory=list)

    # ------------------------------------------------------------ set-up

    @classmethod
    def create(
        cls, root: Path, postgres: PostgresServer, database: str, extra_env: dict[str, str] | None = None
    ) -> Cluster:
        """Migrate ``database`` on ``postgres``, start a private Redis; ``celery_app`` then sends to it."""
        server = start_redis()
        home = root / "sdd_home"
        env = service_environment(home, postgres.url(database), server.url(0))
        env.update(RECOVERY_ENV, **(extra_env or {}))
        settings = Settings(
            home=home,
            database_url=env["SDD_DATABASE_URL"],
            broker_url=env["SDD_BROKER_URL"],
            **{key.removeprefix("SDD_").lower(): value for key, value in RECOVERY_ENV.items()},
        )
        settings.ensure_dirs()
        upgrade(str(settings.database_url))
        configure(celery_app, settings)
        with session_scope(settings) as session:
            tenant = Tenant(name="faults")
            session.add(tenant)
            session.flush()
            tenant_id = tenant.id
        return cls(root, settings, env, server, tenant_id)

    def close(self) -> None:
        """SIGKILL every worker group still there (what it did no longer matters), stop the rest."""
        for worker in self.workers:
            self.kill(worker)
        stop_processes([process for process in self.others if process.alive()], timeout=10)
        stop_redis(self.redis)
        dispose_engines()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------ processes

    def start_worker(self, pool: str = "prefork", concurrency: int = 1, wait: bool = True) -> ServiceProcess:
        """``sdd worker`` in a process group of its own; waits until it consumes (``wait``)."""
        name = f"worker{len(self.workers) + 1}-{pool}"
        worker = ServiceProcess.start(
            name,
            sdd_command("worker", "--pool", pool, "--concurrency", str(concurrency)),
            self.env,
            self.root / "logs" / f"{name}.log",
            new_session=True,
        )
        self.workers.append(worker)
        if wait:
            self.wait_ready(worker)
        return worker

    def start_api(self, port: int) -> ServiceProcess:
        """``sdd api`` on ``port``, ready to answer."""
        api = ServiceProcess.start(
            "api",
            sdd_command("api", "--host", "127.0.0.1", "--port", str(port)),
            self.env,
            self.root / "logs" / f"api-{len(self.others)}.log",
        )
        self.others.append(api)
        wait_until_ready(f"http://127.0.0.1:{port}", [api])
        return api

    def wait_ready(self, worker: ServiceProcess) -> None:
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while WORKER_READY_LINE not in worker.log():
            if not worker.alive() or time.monotonic() > deadline:
                raise AssertionError(f"{worker.name} did not become ready\n{worker.log_tail()}")
            time.sleep(0.2)

    def kill(self, worker: ServiceProcess) -> None:
        """SIGKILL the worker's whole process group (main process and pool children)."""
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.process.wait()

    def terminate(self, worker: ServiceProcess) -> None:
        """SIGTERM to the worker's main process only (as ``docker stop`` or Kubernetes send it)."""
        worker.signal(signal.SIGTERM)

    def worker_of(self, job_id: str) -> ServiceProcess:
        """The worker process whose group runs ``job_id`` now."""
        owner = self.job(job_id).worker or ""
        pid = int(owner.split(":")[1].split("/")[0])
        group = os.getpgid(pid)
        return next(worker for worker in self.workers if worker.pid == group)

    def restart_redis(self) -> None:
        """Kill redis-server outright and start an empty one on the same port."""
        port = self.redis.port
        self.redis.process.kill()
        self.redis.process.wait()
        binary = self.redis.process.args[0]
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.redis.root),
                "--databases",
                str(RedisServer.DATABASES),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.redis = RedisServer(process, port, self.redis.root)
        self.wait_for(self._redis_answers, 15, "redis-server to answer again")

    def _redis_answers(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.redis.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    # ------------------------------------------------------------ jobs

    def insert_job(self, request: dict[str, Any]) -> str:
        """Store a queued job as the API does (validated, its spec resolved, its ``queued`` event), without sending it."""
        with session_scope(self.settings) as session:
            return stored_job(session, self.settings, self.tenant_id, request).id

    def submit(self, request: dict[str, Any]) -> str:
        """Store and send a job, as the API does (``domain.jobs.submission.submit_job``)."""
        with session_scope(self.settings) as session:
            tenant = session.get(Tenant, self.tenant_id)
            assert tenant is not None
            return submit_job(session, self.settings, tenant, JobRequest.model_validate(request), None).job.id

    def job(self, job_id: str) -> Job:
        with session_scope(self.settings) as session:
            job = session.get(Job, job_id)
            assert job is not None
            return job

    def events(self, job_id: str) -> list[JobEvent]:
        with session_scope(self.settings) as session:
            return list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                tails = "\n".join(process.log_tail() for process in [*self.workers, *self.others])
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
            time.sleep(0.2)

    def wait_terminal(self, job_ids: Iterable[str], timeout: float) -> None:
        ids = list(job_ids)
        self.wait_for(
            lambda: all(self.job(job_id).status in TERMINAL for job_id in ids),
            timeout,
            f"{len(ids)} job(s) to end: {self.status_counts(ids)}",
        )

    def status_counts(self, job_ids: Iterable[str]) -> dict[str, int]:
        ids = list(job_ids)
        with session_scope(self.settings) as session:
            return dict(Counter(session.scalars(select(Job.status).where(Job.id.in_(ids)))))

    def check_no_loss(self, job_ids: Iterable[str]) -> None:
        """Every job terminal; each job's epochs recorded once (metrics rows and epoch events)."""
        ids = list(job_ids)
        problems = no_loss_problems(self.settings, ids)
        assert not problems, "\n".join(problems)


def stored_job(
    session: Session,
    settings: Settings,
    tenant_id: str,
    request: dict[str, Any],
    *,
    sweep_id: str | None = None,
    group: bool = False,
) -> Job:
    """A queued job row for ``request`` as the submission path stores it: validated, defaults
    filled in (``domain.jobs.validation``), its ``queued`` event recorded; in ``sweep_id`` and,
    with ``group``, in the lockstep group its spec keys. Not sent to any worker."""
    validated = validate_submission(session, settings, tenant_id, JobRequest.model_validate(request))
    key = group_key(validated.stored_spec()) if group else None
    job = new_job_row(tenant_id, validated, sweep_id=sweep_id, group_key=key)
    session.add(job)
    session.flush()
    record_queued(session, job)
    return job


def no_loss_problems(settings: Settings, job_ids: list[str]) -> list[str]:
    """What is wrong with these jobs after a fault: not terminal, missing, or an epoch recorded twice."""
    problems: list[str] = []
    with session_scope(settings) as session:
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(job_ids)))}
        metric_rows = Counter(
            session.execute(select(JobMetric.job_id, JobMetric.epoch).where(JobMetric.job_id.in_(job_ids))).all()
        )
        epoch_events = session.execute(
            select(JobEvent.job_id, func.count())
            .where(JobEvent.job_id.in_(job_ids), JobEvent.type == "epoch")
            .group_by(JobEvent.job_id)
        ).all()
    for job_id in job_ids:
        job = jobs.get(job_id)
        if job is None:
            problems.append(f"{job_id}: lost (no row)")
        elif job.status not in TERMINAL:
            problems.append(f"{job_id}: still {job.status}")
        elif job.status == "succeeded" and job.epoch != job.epochs:
            problems.append(f"{job_id}: succeeded at epoch {job.epoch} of {job.epochs}")
    problems += [
        f"{job_id}: epoch {epoch} recorded {count} times" for (job_id, epoch), count in metric_rows.items() if count > 1
    ]
    recorded = Counter(job_id for job_id, _ in metric_rows)
    problems += [
        f"{job_id}: {count} epoch events for {recorded[job_id]} epochs"
        for job_id, count in epoch_events
        if count != recorded[job_id]
    ]
    return problems


@contextmanager
def cluster_database(postgres: PostgresServer, name: str) -> Iterator[str]:
    """A fresh database on ``postgres`` for one cluster, dropped afterwards."""
    database = postgres.create_database(name)
    try:
        yield database
    finally:
        dispose_engines()
        postgres.drop_database(database)
