"""Which stored checkpoint a job resumes from, and when a stop checkpoint is dropped."""

from __future__ import annotations

import pytest
import torch
from sqlalchemy import select

from sdd_core.trainer.checkpoint import save_checkpoint
from service.artifact_stores import get_artifact_store
from service.db.models import Artifact
from service.db.session import session_scope
from worker.job_artifacts import STOP_CHECKPOINT, ResumePoint, latest_checkpoint, prune_checkpoints, store_artifact


@pytest.fixture
def job(embedded, make_job):
    return make_job()


def _store(settings, job_id, tmp_path, kind, epoch, *, partial_batch=None):
    path = tmp_path / f"{kind}_{epoch}.pt"
    if partial_batch is None:
        save_checkpoint(path, {"epoch": epoch, "model": {"w": torch.zeros(2)}})
    else:  # written inside ``epoch``: epoch - 1 finished
        save_checkpoint(
            path,
            {
                "epoch": epoch - 1,
                "model": {"w": torch.zeros(2)},
                "partial": {"epoch": epoch, "batch": partial_batch, "sums": {}},
            },
        )
    store = get_artifact_store(settings)
    with session_scope(settings) as session:
        return store_artifact(session, store, job_id, kind, path, epoch=epoch).key


def _latest(settings, job_id):
    with session_scope(settings) as session:
        return latest_checkpoint(session, get_artifact_store(settings), job_id)


def _kinds(settings, job_id):
    with session_scope(settings) as session:
        return sorted(
            (row.kind, row.epoch) for row in session.scalars(select(Artifact).where(Artifact.job_id == job_id))
        )


def test_a_stop_checkpoint_inside_the_next_epoch_is_the_newest(embedded, job, tmp_path):
    assert _latest(embedded, job) is None
    _store(embedded, job, tmp_path, "checkpoint", 1)
    assert _latest(embedded, job) == ResumePoint(epoch=1, path=_latest(embedded, job).path)
    key = _store(embedded, job, tmp_path, STOP_CHECKPOINT, 2, partial_batch=5)
    latest = _latest(embedded, job)
    assert (latest.epoch, latest.batch, latest.path) == (1, 5, get_artifact_store(embedded).path(key))


def test_an_epoch_checkpoint_supersedes_the_stop_checkpoint_inside_it(embedded, job, tmp_path):
    _store(embedded, job, tmp_path, "checkpoint", 1)
    stop_key = _store(embedded, job, tmp_path, STOP_CHECKPOINT, 2, partial_batch=5)
    with session_scope(embedded) as session:
        assert prune_checkpoints(session, get_artifact_store(embedded), job, keep=3) == []
    assert _kinds(embedded, job) == [("checkpoint", 1), (STOP_CHECKPOINT, 2)]  # still the newest: kept

    _store(embedded, job, tmp_path, "checkpoint", 2)
    latest = _latest(embedded, job)
    assert (latest.epoch, latest.batch) == (2, 0)
    with session_scope(embedded) as session:
        prune_checkpoints(session, get_artifact_store(embedded), job, keep=3)
    assert _kinds(embedded, job) == [("checkpoint", 1), ("checkpoint", 2)]
    assert not get_artifact_store(embedded).exists(stop_key)


def test_a_stop_checkpoint_whose_file_is_gone_or_unreadable_falls_back(embedded, job, tmp_path):
    _store(embedded, job, tmp_path, "checkpoint", 1)
    key = _store(embedded, job, tmp_path, STOP_CHECKPOINT, 2, partial_batch=5)
    get_artifact_store(embedded).path(key).write_bytes(b"not a checkpoint")
    assert (_latest(embedded, job).epoch, _latest(embedded, job).batch) == (1, 0)
    get_artifact_store(embedded).delete(key)
    assert (_latest(embedded, job).epoch, _latest(embedded, job).batch) == (1, 0)
