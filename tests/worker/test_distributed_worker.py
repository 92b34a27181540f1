"""A job on two devices through a real ``sdd worker --devices 2`` (two gloo ranks on the CPU): it
trains, records each epoch once, matches a single process, survives SIGKILL of rank 1, and a
cancel stops both ranks together."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from domain.jobs import cancellation
from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainOptions, train
from service.broker import celery_app, configure
from service.db.models import Job, JobEvent, JobMetric, WorkerNode
from service.db.session import session_scope
from service.job_queue import enqueue_job
from tests.worker.conftest import Stack, _start_stack
from tests.worker.worker_harness import TINY_SPEC, wait_for_status
from worker.distributed_job import rank_command
from worker.rank_process import parse_rank

pytestmark = pytest.mark.slow

TERMINAL = {"succeeded", "failed", "cancelled"}
TWO_RANKS = TINY_SPEC | {"devices": 2, "sync_batchnorm": True, "seed": 3}
LOSS_TOLERANCE = 1e-2  # relative, as tests/sdd_core/trainer/test_distributed.py states and explains
RANK_PIDS = re.compile(r"job (job_\w+): training on 2 ranks \(gloo\), ranks 1\.\.1 are pids (\d+)")


@pytest.fixture(scope="module")
def two_device_stack(tmp_path_factory) -> Iterator[Stack]:
    stack = _start_stack(tmp_path_factory.mktemp("ranks") / "sdd_home", {}, pool="solo", worker_args=("--devices", "2"))
    configure(celery_app, stack.settings)
    yield stack
    stack.worker.stop()


def _epochs(stack: Stack, job_id: str) -> list[int]:
    with session_scope(stack.settings) as session:
        rows = session.scalars(select(JobMetric.epoch).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch))
        return list(rows)


def _train_loss(stack: Stack, job_id: str, epoch: int) -> float:
    with session_scope(stack.settings) as session:
        row = session.scalar(select(JobMetric).where(JobMetric.job_id == job_id, JobMetric.epoch == epoch))
        assert row is not None
        return float(row.data["train_loss"])


def _started_on_two_ranks(stack: Stack, spec: dict) -> tuple[str, int]:
    """Queue ``spec`` on two devices and wait until its first epoch is recorded: (job id, rank 1's pid)."""
    job_id = stack.make_job(spec)
    enqueue_job(job_id, 2)
    deadline = time.monotonic() + 300
    while not _epochs(stack, job_id):
        assert time.monotonic() < deadline, stack.worker.log()[-3000:]
        time.sleep(0.2)
    pids = [int(pid) for found_id, pid in RANK_PIDS.findall(stack.worker.log()) if found_id == job_id]
    return job_id, pids[-1]


def test_a_two_device_job_trains_on_two_ranks_like_one_process(two_device_stack: Stack, tmp_path) -> None:
    stack = two_device_stack
    spec = TWO_RANKS | {"hyperparameters": {"epochs": 2, "batch_size": 64, "device": "cpu", "lr": 0.01}}
    job_id = stack.make_job(spec)
    enqueue_job(job_id, 2)
    job = wait_for_status(stack.settings, job_id, TERMINAL, worker=stack.worker)
    assert job.status == "succeeded", (job.error_code, job.error_message, stack.worker.log()[-3000:])
    assert _epochs(stack, job_id) == [1, 2]  # rank 0 alone recorded, each epoch once
    assert RANK_PIDS.search(stack.worker.log())
    with session_scope(stack.settings) as session:  # the worker said what it serves
        assert [node.devices for node in session.scalars(select(WorkerNode))] == [2]

    alone = JobSpec.model_validate({k: v for k, v in spec.items() if k != "metadata"} | {"devices": 2})
    train(alone.model_copy(update={"devices": 1}), tmp_path / "alone", options=TrainOptions(data_root=tmp_path / "d"))
    single = json.loads((tmp_path / "alone" / "metrics.jsonl").read_text().splitlines()[0])["train_loss"]
    gap = abs(_train_loss(stack, job_id, 1) - single) / single
    assert gap < LOSS_TOLERANCE, (gap, single)


def test_a_killed_rank_fails_the_attempt_and_the_job_resumes(two_device_stack: Stack) -> None:
    stack = two_device_stack
    spec = TWO_RANKS | {"image_size": 32, "hyperparameters": {"epochs": 4, "batch_size": 32, "device": "cpu"}}
    job_id, rank_pid = _started_on_two_ranks(stack, spec)  # epoch 1 done: a checkpoint to resume from
    os.kill(rank_pid, signal.SIGKILL)

    job = wait_for_status(stack.settings, job_id, TERMINAL, worker=stack.worker)
    assert job.status == "succeeded", (job.error_code, job.error_message, stack.worker.log()[-3000:])
    assert job.attempts == 2 and _epochs(stack, job_id) == [1, 2, 3, 4]
    with session_scope(stack.settings) as session:
        events = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)).all()
    requeued = [event for event in events if event.type == "requeued"]
    assert len(requeued) == 1 and requeued[0].data["reason"] == "rank_lost", [(e.type, e.message) for e in events]
    assert "rank 1 of 2 stopped (signal 9)" in requeued[0].message
    assert [event.type for event in events].count("started") == 2


def test_a_cancel_stops_every_rank_together(two_device_stack: Stack) -> None:
    stack = two_device_stack
    spec = TWO_RANKS | {"image_size": 32, "hyperparameters": {"epochs": 20, "batch_size": 32, "device": "cpu"}}
    job_id, rank_pid = _started_on_two_ranks(stack, spec)
    with session_scope(stack.settings) as session:
        assert cancellation.request_cancel(session, session.get(Job, job_id)).status == "cancelling"
    job = wait_for_status(stack.settings, job_id, TERMINAL, worker=stack.worker)
    assert job.status == "cancelled", (job.error_code, job.error_message)
    assert len(_epochs(stack, job_id)) < 20
    deadline = time.monotonic() + 30
    while _alive(rank_pid):  # rank 1 ended with rank 0, not killed after a timeout
        assert time.monotonic() < deadline, f"rank 1 (pid {rank_pid}) still running after the cancel"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_every_rank_gets_rank_0s_data_options(tmp_path) -> None:
    """Ranks 1..N-1 take rank 0's data path and loader workers (a device cap of 0 sends rank 0 to the
    loader path; a rank without it would draw other batches from the device-resident one)."""
    options = TrainOptions(data_root=tmp_path / "data", num_workers=3, device_data_max_bytes=0, allow_download=True)
    command = rank_command(1, 2, 29500, tmp_path / "spec.json", tmp_path / "out", options, tmp_path / "ckpt.pt")
    assert command[1:3] == ["-m", "worker.rank_process"]
    args, parsed = parse_rank(command[3:])
    assert parsed == dataclasses.replace(options, world_size=2, rank=1)
    assert (args.port, args.resume) == (29500, tmp_path / "ckpt.pt")
