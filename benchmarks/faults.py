"""Randomized fault injection against a real cluster: jobs must survive whatever happens to workers and Redis.

    python -m benchmarks.faults [--jobs 12 --workers 2 --duration 120 --seed 7 --max-epochs 4 --loader-workers 2]

Starts a private PostgreSQL and redis-server on 127.0.0.1 (``tests.fixtures.servers``) and
``--workers`` real ``sdd worker`` processes (``tests.faults.cluster``: 6 s leases, a reaper pass
every second). For ``--duration`` seconds it submits ``--jobs`` tiny jobs (digits, resnet8,
2..``--max-epochs`` epochs) at random moments and, every few seconds, injects a random fault.
With ``--loader-workers N`` (default 2, as on a GPU node) every job takes the loader path with N
loader processes inside the worker's pool child (``SDD_DEVICE_DATA_MAX_BYTES=0``), so the SIGTERMs
and SIGKILLs land in loader-path epochs; ``--loader-workers 0`` keeps the device-resident path.

* ``sigkill_worker`` — SIGKILL a worker's whole process group (a node lost); a new worker starts
  (this fault and ``sigterm_worker`` pick a worker that trains a job when one does);
* ``sigkill_child`` — SIGKILL only the pool process training a job (the kernel's OOM killer);
* ``sigterm_worker`` — SIGTERM a worker's main process (a deploy); a new worker starts;
* ``redis_restart`` — kill redis-server and start it again, empty;
* ``postgres_restart`` — stop PostgreSQL outright (every connection cut) for 2-5 s, then start it
  again: workers wait to write, the reaper holds off, nothing may be lost;
* ``duplicate_send`` — send one unfinished job's message twice more.

Then it stops injecting, lets the workers drain (at most ``--drain-timeout`` seconds) and prints
jobs submitted, faults by kind, jobs lost (must be 0), epochs recorded twice (must be 0), epochs
re-done (trained again by a later attempt because the earlier one died after recording them,
before its checkpoint), attempts cut short (a stopped worker's attempt stores a checkpoint at its
batch and the next attempt continues there; a killed one loses the epoch it was in) and the final
status counts. Exit status 1 if a job was lost or an epoch recorded twice. The seed is printed; the same
seed gives the same schedule (submission times, fault kinds and times), not the same targets:
which worker or job a fault hits depends on what runs at that moment.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from service.broker import RUN_JOB_TASK, celery_app
from service.db.models import Job, JobEvent
from service.db.session import session_scope
from tests.e2e.service_processes import ServiceProcess
from tests.faults.cluster import TERMINAL, Cluster, cluster_database, no_loss_problems, tiny_spec
from tests.fixtures.servers import running_postgres

FAULT_KINDS = (
    "sigkill_worker",
    "sigkill_child",
    "sigterm_worker",
    "redis_restart",
    "postgres_restart",
    "duplicate_send",
)


class Chaos:
    """The fault injector: keeps ``workers`` workers running and breaks things on request."""

    def __init__(self, cluster: Cluster, rng: random.Random, workers: int, postgres: Any = None) -> None:
        self.cluster = cluster
        self.postgres = postgres
        self.rng = rng
        self.target = workers
        self.faults: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.stopping: set[int] = set()  # SIGTERMed workers, draining

    def alive(self) -> list[ServiceProcess]:
        return [worker for worker in self.cluster.workers if worker.alive()]

    def top_up(self) -> None:
        """Start workers until ``target`` are alive (a SIGTERMed one still draining counts as gone)."""
        live = [worker for worker in self.alive() if worker.pid not in self.stopping]
        for _ in range(self.target - len(live)):
            pool = self.rng.choice(("prefork", "prefork", "prefork", "solo"))
            self.cluster.start_worker(pool, wait=False)

    def running_jobs(self) -> list[Job]:
        with session_scope(self.cluster.settings) as session:
            return list(session.scalars(select(Job).where(Job.status == "running")))

    def busy_worker_pids(self) -> set[int]:
        """Process groups (= worker main pids) of the workers that run a job now."""
        pids = set()
        for job in self.running_jobs():
            try:
                pids.add(os.getpgid(int((job.worker or "").split(":")[1].split("/")[0])))
            except (IndexError, ValueError, ProcessLookupError):
                continue
        return pids

    def inject(self, kind: str, job_ids: list[str]) -> str:
        """Inject one fault; returns what was done (or why nothing was)."""
        cluster = self.cluster
        if kind in ("sigkill_worker", "sigterm_worker"):
            candidates = [worker for worker in self.alive() if worker.pid not in self.stopping]
            if not candidates:
                return self._skip(kind, "no worker")
            busy = [worker for worker in candidates if worker.pid in self.busy_worker_pids()]
            worker = self.rng.choice(busy or candidates)  # a worker that trains a job, when one does
            if kind == "sigkill_worker":
                cluster.kill(worker)
            else:
                self.stopping.add(worker.pid)
                cluster.terminate(worker)
            self._count(kind)
            return f"{kind} {worker.name}" + ("" if busy else " (idle)")
        if kind == "sigkill_child":
            running = [job for job in self.running_jobs() if job.worker]
            if not running:
                return self._skip(kind, "no running job")
            job = self.rng.choice(running)
            pid = int(job.worker.split(":")[1].split("/")[0])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return self._skip(kind, "its process just ended")
            self._count(kind)
            return f"{kind} pid {pid} ({job.id})"
        if kind == "redis_restart":
            cluster.restart_redis()
            self._count(kind)
            return kind
        if kind == "postgres_restart":
            if self.postgres is None:
                return self._skip(kind, "no PostgreSQL handle")
            down = self.rng.uniform(2.0, 5.0)
            self.postgres.stop()
            time.sleep(down)
            self.postgres.start()
            self._count(kind)
            return f"{kind} ({down:.1f} s down)"
        unfinished = [job_id for job_id in job_ids if cluster.job(job_id).status not in TERMINAL]
        if not unfinished:
            return self._skip(kind, "no unfinished job")
        job_id = self.rng.choice(unfinished)
        try:
            for _ in range(2):
                celery_app.send_task(RUN_JOB_TASK, args=[job_id])
        except Exception as exc:  # Redis restarting
            return self._skip(kind, f"send failed: {exc}")
        self._count(kind)
        return f"{kind} {job_id}"

    def _count(self, kind: str) -> None:
        self.faults[kind] += 1

    def _skip(self, kind: str, why: str) -> str:
        self.skipped[kind] += 1
        return f"{kind} skipped: {why}"


def epochs_redone(settings, job_ids: list[str]) -> tuple[int, int, int]:
    """(epochs re-done, attempts cut short, of those continued mid-epoch).

    Re-done: epochs trained again by a later attempt — for each attempt, the epochs recorded
    before it started beyond the checkpoint it resumed from (0 when it started from scratch).
    An attempt cut short (re-queued after a lost lease or a shutdown) loses the partial epoch it
    was in unless it stored a checkpoint at its batch and the next attempt continued from it
    (a ``resumed`` event with ``data.batch``); lost partial epochs are not in the first number.
    """
    with session_scope(settings) as session:
        events = session.execute(
            select(JobEvent.job_id, JobEvent.type, JobEvent.data)
            .where(JobEvent.job_id.in_(job_ids))
            .order_by(JobEvent.id)
        ).all()
    redone, cut_short, continued = 0, 0, 0
    stopped: dict[str, bool] = {}  # job -> its last attempt was cut short by a worker's shutdown
    recorded: dict[str, int] = {}
    starts: dict[str, list[list[int]]] = {}  # job -> [[epochs recorded at the start, resumed from]]
    for job_id, type_, data in events:
        if type_ == "epoch":
            recorded[job_id] = max(recorded.get(job_id, 0), int(data["epoch"]))
        elif type_ == "started":
            starts.setdefault(job_id, []).append([recorded.get(job_id, 0), 0])
        elif type_ == "resumed" and starts.get(job_id):
            starts[job_id][-1][1] = int(data["epoch"])
            continued += int(stopped.pop(job_id, False) and "batch" in data)
        elif type_ == "requeued":
            cut_short += 1
            stopped[job_id] = data.get("reason") == "shutdown"  # a stopped worker's attempt stored its batch
    for attempts in starts.values():
        redone += sum(max(0, done - resumed_from) for done, resumed_from in attempts)
    return redone, cut_short, continued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of fault injection")
    parser.add_argument(
        "--fault-every",
        type=float,
        nargs=2,
        default=(3.0, 8.0),
        metavar=("MIN", "MAX"),
        help="seconds between two faults, drawn uniformly",
    )
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--loader-workers", type=int, default=2, help="0: the device-resident path")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    schedule = random.Random(seed)  # when jobs come and which faults strike when
    path = f"loader path, {args.loader_workers} loader workers" if args.loader_workers else "device-resident path"
    print(f"seed {seed}; {args.jobs} jobs, {args.workers} workers, {args.duration:.0f}s of faults, {path}", flush=True)

    root = Path(tempfile.mkdtemp(prefix="sdd-faults-"))
    try:
        problems = run(args, schedule, seed, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    raise SystemExit(1 if problems else 0)


def loader_env(loader_workers: int) -> dict[str, str]:
    """The workers' settings that send every job to the loader path, when it has loader workers."""
    return {"SDD_DEVICE_DATA_MAX_BYTES": "0"} if loader_workers else {}


def run(args: argparse.Namespace, rng: random.Random, seed: int, root: Path) -> list[str]:
    """The whole run inside a fresh PostgreSQL and Redis; the problems found (empty: all good).

    ``rng`` draws the schedule; the targets (which worker, which job) come from their own
    generator, as how many there are depends on timing."""
    with (
        running_postgres() as postgres,
        cluster_database(postgres, "faults_bench") as database,
        Cluster.create(root, postgres, database, extra_env=loader_env(args.loader_workers)) as cluster,
    ):
        chaos = Chaos(cluster, random.Random(seed + 1), args.workers, postgres)
        chaos.top_up()
        for worker in cluster.workers:
            cluster.wait_ready(worker)
        started = time.monotonic()
        submit_at = sorted(rng.uniform(0, args.duration / 2) for _ in range(args.jobs))
        next_fault = rng.uniform(*args.fault_every)
        job_ids: list[str] = []
        send_failures = 0
        while (now := time.monotonic() - started) < args.duration:
            while submit_at and submit_at[0] <= now:
                submit_at.pop(0)
                spec = tiny_spec(epochs=rng.randint(2, max(2, args.max_epochs)), seed=len(job_ids))
                if args.loader_workers:
                    spec["hyperparameters"]["loader_workers"] = args.loader_workers
                job_id = cluster.insert_job(spec)
                job_ids.append(job_id)
                try:
                    celery_app.send_task(RUN_JOB_TASK, args=[job_id])
                except Exception:  # as the API: the job is safe in SQL; the reconciler sends it
                    send_failures += 1
            if now >= next_fault:
                print(f"{now:6.1f}s  {chaos.inject(rng.choice(FAULT_KINDS), job_ids)}", flush=True)
                chaos.top_up()
                next_fault = now + rng.uniform(*args.fault_every)
            time.sleep(0.2)

        print(f"{time.monotonic() - started:6.1f}s  faults stop; draining", flush=True)
        chaos.top_up()
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline and any(cluster.job(j).status not in TERMINAL for j in job_ids):
            time.sleep(1.0)
        drained = time.monotonic() - started

        problems = no_loss_problems(cluster.settings, job_ids)
        lost = [problem for problem in problems if "recorded" not in problem]
        twice = [problem for problem in problems if "recorded" in problem]
        with session_scope(cluster.settings) as session:
            attempts = Counter(session.scalars(select(Job.attempts).where(Job.id.in_(job_ids))))
            codes = Counter(session.scalars(select(Job.error_code).where(Job.id.in_(job_ids), Job.status == "failed")))
        print()
        print(f"seed                 {seed}")
        print(f"jobs submitted       {len(job_ids)} ({send_failures} first sends failed: Redis down)")
        print(
            f"faults injected      {sum(chaos.faults.values())}: "
            + ", ".join(f"{kind} {chaos.faults[kind]}" for kind in FAULT_KINDS)
        )
        if chaos.skipped:
            print(f"faults skipped       {dict(chaos.skipped)}")
        print(f"jobs lost            {len(lost)}")
        print(f"epochs recorded 2x   {len(twice)}")
        redone, cut_short, continued = epochs_redone(cluster.settings, job_ids)
        print(f"epochs re-done       {redone}")
        print(
            f"attempts cut short   {cut_short} ({continued} continued at the batch they stopped at, "
            f"{cut_short - continued} lost their partial epoch)"
        )
        print(
            f"final status         {dict(sorted(cluster.status_counts(job_ids).items()))}"
            + (f"; failed codes {dict(codes)}" if codes else "")
        )
        print(f"attempts per job     {dict(sorted(attempts.items()))}")
        print(f"wall time            {drained:.0f}s (workers started: {len(cluster.workers)})")
        for problem in problems:
            print(f"PROBLEM  {problem}")
        return problems


if __name__ == "__main__":
    main()
