"""The reaper's pass with a large backlog: 10,000 queued jobs, some of them on several devices.

    python -m benchmarks.reaper_pass [--jobs 10000] [--multi-device 0.1] [--rounds 5] [--postgres]

Every worker runs a pass every few seconds (``worker.reaper.reap_and_reconcile``): it says it is
alive and notes the queued jobs on N > 1 devices that no live worker serves (``say_alive``), reaps
expired leases, and re-sends queued jobs whose message may be lost. Finding the multi-device jobs
used to load every queued job and read its JSON spec in Python, and then ask two questions per job;
it now asks SQL for ``status = 'queued' AND devices > 1`` on the (status, devices) index and
answers per device count. This benchmark measures, on one database in one run and as alternated
pairs (``benchmarks.paired``):

* ``say_alive`` as it is, against the former way (reconstructed here as ``say_alive_reading_specs``);
* a whole pass (``reap_and_reconcile``) as it is, for its absolute time.

The backlog: ``--jobs`` queued jobs (``--multi-device`` of them on 2 devices, already noted as
waiting, as after the first pass), sent to the broker a moment ago (nothing to re-send), a live
worker serving 1 device. Prints seconds per call (median) and the ratio former/now.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import exists, insert, select

from benchmarks.local_service import prepare_service
from benchmarks.paired import alternate, paired_ratio
from domain.recovery import worker_nodes
from domain.status import JobStatus
from service.db.models import Job, JobEvent, Tenant, utcnow
from service.db.session import session_scope
from service.settings import Settings
from tests.fixtures.servers import running_postgres
from worker.reaper import reap_and_reconcile, say_alive, worker_name

SPEC = {"dataset": "digits", "student": "resnet8", "method": "ce", "hyperparameters": {"epochs": 1}}


def fill(settings: Settings, jobs: int, multi_device: float) -> None:
    """``jobs`` queued jobs, one in ``1/multi_device`` on 2 devices, those already noted as waiting."""
    now = utcnow()
    with session_scope(settings) as session:
        tenant = session.scalars(select(Tenant.id)).first()
        every = max(1, round(1 / multi_device)) if multi_device > 0 else jobs + 1
        rows = []
        for i in range(jobs):
            devices = 2 if i % every == 0 else 1
            spec = SPEC | ({"devices": devices} if devices > 1 else {})
            rows.append(
                dict(id=f"job_{i:024x}", tenant_id=tenant, status=JobStatus.QUEUED, spec=spec, request=spec,
                     devices=devices, epoch=0, epochs=1, attempts=0, cancel_requested=False, run_seconds=0.0,
                     created_at=now, updated_at=now, enqueued_at=now)
            )  # fmt: skip
        session.execute(insert(Job), rows)
        noted = [
            dict(job_id=row["id"], type=worker_nodes.WAITING_EVENT, message="waiting", created_at=now)
            for row in rows
            if row["devices"] > 1
        ]
        if noted:
            session.execute(insert(JobEvent), noted)
        worker_nodes.record_worker(session, worker_name(), 1)


def say_alive_reading_specs(settings: Settings) -> None:
    """The former ``say_alive``: every queued job loaded, its spec read, two queries per candidate."""
    with session_scope(settings) as session:
        worker_nodes.record_worker(session, worker_name(), settings.worker_devices)
        queued = session.scalars(select(Job).where(Job.status == "queued")).all()
        waiting = [job for job in queued if int((job.spec or {}).get("devices", 1)) > 1]
        for job in waiting:
            devices = int((job.spec or {}).get("devices", 1))
            if worker_nodes.served(session, devices, settings.worker_alive_seconds):
                continue
            session.scalar(select(exists().where(JobEvent.job_id == job.id, JobEvent.type == "waiting_for_devices")))


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


@contextmanager
def database(postgres: bool) -> Iterator[str | None]:
    if not postgres:
        yield None
        return
    with running_postgres() as server:
        yield server.url(server.create_database("reaper_bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--multi-device", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL instead of SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home, database(args.postgres) as url:
        settings = prepare_service(Path(home), tenants=("alice",), database_url=url).settings
        started = time.perf_counter()
        fill(settings, args.jobs, args.multi_device)
        print(f"{args.jobs} queued jobs ({args.multi_device:.0%} on 2 devices) stored in "
              f"{time.perf_counter() - started:.1f}s on {'PostgreSQL' if args.postgres else 'SQLite'}")  # fmt: skip

        former, now = alternate(
            lambda _: timed(lambda: say_alive_reading_specs(settings)),
            lambda _: timed(lambda: say_alive(settings)),
            args.rounds,
        )
        passes = [timed(lambda: reap_and_reconcile(settings, send=lambda job_id, devices: None))
                  for _ in range(args.rounds)]  # fmt: skip
        print(f"say_alive, reading every queued spec (former): {statistics.median(former) * 1000:8.1f} ms")
        print(f"say_alive, on the (status, devices) index:      {statistics.median(now) * 1000:8.1f} ms")
        print(f"  ratio former/now: {paired_ratio(now, former).describe()}")
        print(f"a whole reaper pass (reap_and_reconcile):       {statistics.median(passes) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
