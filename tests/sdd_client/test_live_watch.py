"""``sdd jobs watch``'s bars for a running job: epoch and batch, fraction done, ETA."""

from __future__ import annotations

import io
import threading
import time

from rich.console import Console
from rich.progress import TaskID

from domain.jobs.transitions import finish, record_batch_progress
from sdd_client import SDDClient
from sdd_client.live_watch import WatchedJob, watch
from tests.api.conftest import Api
from tests.sdd_client.conftest import epoch, metrics_row, start_job


def _running_job(api: Api, epochs_done: int, batch: int, batches: int = 57) -> str:
    """A 10-epoch job, ``epochs_done`` epochs of 60 s done, at ``batch`` of the next one."""
    job = api.create_job(hyperparameters={"epochs": 10})
    start_job(api, job["id"])
    for index in range(1, epochs_done + 1):
        epoch(api, job["id"], metrics_row(index, 10, 40.0 + index, seconds=60.0))
    _batch(api, job["id"], epochs_done + 1, batch, batches)
    return job["id"]


def _batch(api: Api, job_id: str, epoch_in_progress: int, batch: int, batches: int) -> None:
    with api.session() as session:
        assert record_batch_progress(session, job_id, epoch_in_progress, batch, batches, "test-worker")


def test_watch_draws_the_batch_of_a_running_job(api: Api, sdd: SDDClient) -> None:
    job_id = _running_job(api, epochs_done=3, batch=12)
    out = io.StringIO()

    def stop_later() -> None:  # the job fails after a few polls, which ends the watch
        time.sleep(0.5)
        with api.session() as session:
            assert finish(session, job_id, "failed", error_code="non_finite", error_message="NaN")

    worker = threading.Thread(target=stop_later, daemon=True)
    worker.start()
    [last] = watch(sdd, [job_id], poll=0.05, console=Console(file=out, force_terminal=True, width=200))
    worker.join(timeout=10)
    assert last.status == "failed"
    drawn = out.getvalue()
    assert "3/10 done · batch 12/57" in drawn and "ETA 6:47" in drawn  # 60 s per epoch, 6.79 epochs left
    final = drawn.rsplit("\x1b[2K", 1)[-1]  # the last redraw of the bars (after the cursor went up)
    assert "3/10 done " in final and "failed" in final and "batch" not in final


def test_completed_counts_the_batch_fraction_while_running(api: Api, sdd: SDDClient) -> None:
    job_id = _running_job(api, epochs_done=3, batch=12)
    item = WatchedJob(task=TaskID(0), job=sdd.get(job_id), rows=sdd.metrics(job_id))
    assert item.completed == 3 + 12 / 57
    assert item.fields(now=0.0)["position"] == "3/10 done · batch 12/57"


def test_before_the_first_epoch_the_eta_comes_from_the_batches_pace(api: Api, sdd: SDDClient) -> None:
    job_id = _running_job(api, epochs_done=0, batch=5, batches=50)
    item = WatchedJob(task=TaskID(0), job=sdd.get(job_id))
    item.observe(item.job, now=100.0)
    assert item.eta(now=100.0) == "ETA -"  # one sighting: no pace yet
    _batch(api, job_id, 1, 10, 50)
    item.observe(sdd.get(job_id), now=110.0)  # 0.1 epoch in 10 s: 100 s per epoch, 9.8 epochs left
    assert item.eta(now=110.0) == "ETA 16:20"
    assert item.fields(now=110.0)["position"] == "0/10 done · batch 10/50"
