"""Large-image jobs with loader worker processes, through real ``sdd worker`` processes on
PostgreSQL + Redis: a prefork worker (whose pool child is daemonic), ``sdd worker --gpus 0`` (a
supervisor and its prefork child) and ``sdd worker --devices 2`` (rank 0 in the pool child, rank 1
a subprocess, each with its own loader workers).

A SIGTERM to the first worker's process group mid-epoch (loader workers included) stops the job at a batch with a checkpoint, leaves no
process of that worker behind (loader workers included), and the job resumes on the next worker to
end with exactly the weights of a run that was never interrupted. ``sdd up`` runs its job on the
loader path with loader workers too (tests/e2e/test_sdd_up.py).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from sqlalchemy import select

from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_key, job_card_key, job_student_key
from service.broker import celery_app, configure
from service.db.models import Dataset, JobEvent
from service.db.session import dispose_engines, session_scope
from service.job_queue import enqueue_job
from tests.fixtures.servers import PostgresServer, RedisServer
from tests.worker.conftest import Stack, _insert_tenant, _migrated_settings, start_worker_process
from tests.worker.worker_harness import WorkerProcess, event_types, wait_for_status

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.slow

LOADER_WORKERS = 2
IMAGE_SIDE = 80  # over 64 px: the ImageNet pipeline, so the loader path with its worker processes
TRAIN_PER_CLASS, VAL_PER_CLASS = 24, 4
TERMINAL = {"succeeded", "failed", "cancelled"}


def _loader_spec(dataset_id: str, epochs: int, devices: int = 1) -> dict:
    return {
        "dataset": dataset_id,
        "student": "resnet8",
        "method": "ce",
        "scales": [1, 2, 4],
        "beta": 2.0,
        "seed": 7,
        "image_size": 24,
        "devices": devices,
        "hyperparameters": {
            "epochs": epochs,
            "batch_size": 4,
            "device": "cpu",
            "loader_workers": LOADER_WORKERS,
            "lr": 0.02,
        },
        "teacher": None,
    }


def _store_large_image_dataset(stack: Stack) -> str:
    """Two classes of 80 px PNGs in the artifact store, with the row the API would write."""
    with session_scope(stack.settings) as session:
        row = Dataset(
            tenant_id=stack.tenant_id,
            name="large squares",
            classes=["dark", "light"],
            num_classes=2,
            image_size=24,
            train_count=2 * TRAIN_PER_CLASS,
            val_count=2 * VAL_PER_CLASS,
            class_counts={},
            storage_key="",
            size_bytes=0,
            sha256="0" * 64,
        )
        session.add(row)
        session.flush()
        dataset_id = row.id
    root = get_artifact_store(stack.settings).path(dataset_key(dataset_id))
    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
        for label, shade in (("dark", 60), ("light", 180)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                noise = torch.randint(-50, 50, (IMAGE_SIDE, IMAGE_SIDE, 3), generator=generator)
                pixels = (noise + shade).clamp(0, 255).to(torch.uint8).numpy()
                Image.fromarray(pixels).save(folder / f"{index}.png")
    return dataset_id


@pytest.fixture(scope="module")
def database(tmp_path_factory, postgres_server: PostgresServer, redis_server: RedisServer) -> Iterator[dict]:
    name = postgres_server.create_database(f"loader_workers_{os.getpid()}")
    redis_db = RedisServer.DATABASES - 9  # among the top ones reserved for stacks (tests/conftest.py)
    redis_server.flush(redis_db)
    env = {"SDD_DATABASE_URL": postgres_server.url(name), "SDD_BROKER_URL": redis_server.url(redis_db)}
    home = tmp_path_factory.mktemp("loader") / "sdd_home"
    try:
        tenant_id = _insert_tenant(_migrated_settings(home, env), "acme")
        yield {"home": home, "env": env, "tenant_id": tenant_id}
    finally:
        dispose_engines()
        postgres_server.drop_database(name)


def _worker(database: dict, *args: str) -> Stack:
    """A prefork ``sdd worker [args]`` in a session of its own, on the module's database."""
    home, env = database["home"], database["env"]
    settings = _migrated_settings(home, env)
    configure(celery_app, settings)
    worker = start_worker_process(home, env, "prefork", args, new_session=True)
    return Stack(settings, worker, database["tenant_id"], "")


def _session_processes(worker: WorkerProcess) -> list[psutil.Process]:
    """Live processes of the worker's session: it, its pool children, their loader workers."""
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == worker.process.pid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def _is_fork_of_pool(process: psutil.Process, worker: WorkerProcess) -> bool:
    """A forked process two levels below the worker's main process (main -> pool child -> loader)."""
    try:
        parent = process.parent()
        return parent is not None and parent.ppid() == worker.process.pid
    except psutil.NoSuchProcess:
        return False


def _checkpoint_events(stack: Stack, job_id: str) -> list[dict]:
    with session_scope(stack.settings) as session:
        rows = session.scalars(
            select(JobEvent.data).where(JobEvent.job_id == job_id, JobEvent.type == "checkpoint").order_by(JobEvent.id)
        )
        return [dict(data or {}) for data in rows]


def _student(stack: Stack, job_id: str) -> dict[str, torch.Tensor]:
    return load_file(str(get_artifact_store(stack.settings).path(job_student_key(job_id))))


def _card_data(stack: Stack, job_id: str) -> dict:
    card = json.loads(get_artifact_store(stack.settings).path(job_card_key(job_id)).read_text())
    return card["training"]["data"]


def test_sigterm_mid_epoch_then_resume_on_a_gpus_worker_ends_as_an_uninterrupted_run(database: dict) -> None:
    first = _worker(database)
    dataset_id = _store_large_image_dataset(first)
    interrupted = first.make_job(_loader_spec(dataset_id, epochs=4))
    enqueue_job(interrupted)
    try:
        deadline = time.monotonic() + 120
        while not _checkpoint_events(first, interrupted):  # epoch 1 done: the stop lands inside epoch 2 or later
            assert first.worker.process.poll() is None and time.monotonic() < deadline, first.worker.log()[-4000:]
            time.sleep(0.05)
        loaders = [process for process in _session_processes(first.worker) if _is_fork_of_pool(process, first.worker)]
        assert len(loaders) >= LOADER_WORKERS, first.worker.log()[-4000:]  # the pool child's loader workers
        os.killpg(first.worker.process.pid, signal.SIGTERM)  # to the whole group, as systemd or Ctrl-C would
        assert first.worker.process.wait(timeout=60) == 0, first.worker.log()[-4000:]
    finally:
        first.worker.stop()
    assert "daemonic processes" not in first.worker.log()
    assert _session_processes(first.worker) == [], "processes of the stopped worker are still running"
    stopped_at = [event for event in _checkpoint_events(first, interrupted) if "batch" in event]
    assert len(stopped_at) == 1, _checkpoint_events(first, interrupted)  # a checkpoint at the batch it stopped at

    second = _worker(database, "--gpus", "0")  # CUDA_VISIBLE_DEVICES=0 on a CPU node: the job trains on the CPU
    try:
        job = wait_for_status(second.settings, interrupted, TERMINAL, worker=second.worker)
        assert job.status == "succeeded", (job.error_code, job.error_message, second.worker.log()[-4000:])
        assert "resumed" in event_types(second.settings, interrupted)
        uninterrupted = second.make_job(_loader_spec(dataset_id, epochs=4))
        enqueue_job(uninterrupted)
        job = wait_for_status(second.settings, uninterrupted, TERMINAL, worker=second.worker)
        assert job.status == "succeeded", (job.error_code, job.error_message, second.worker.log()[-4000:])
    finally:
        second.worker.stop()
    data = _card_data(second, interrupted)
    assert (data["path"], data["loader_workers"]) == ("loader", LOADER_WORKERS)
    resumed, whole = _student(second, interrupted), _student(second, uninterrupted)
    assert resumed.keys() == whole.keys()
    for name in whole:
        assert torch.equal(resumed[name], whole[name]), name


def test_a_two_device_job_on_the_loader_path_trains_on_two_ranks(database: dict) -> None:
    stack = _worker(database, "--devices", "2")
    try:
        dataset_id = _store_large_image_dataset(stack)
        job_id = stack.make_job(_loader_spec(dataset_id, epochs=2, devices=2))
        enqueue_job(job_id, 2)
        job = wait_for_status(stack.settings, job_id, TERMINAL, worker=stack.worker, timeout=240)
        assert job.status == "succeeded", (job.error_code, job.error_message, stack.worker.log()[-4000:])
    finally:
        stack.worker.stop()
    data = _card_data(stack, job_id)
    assert (data["path"], data["loader_workers"]) == ("loader", LOADER_WORKERS)
    assert "daemonic processes" not in stack.worker.log()
    assert _session_processes(stack.worker) == []
