"""A worker trains a claimed job's lockstep group together, and each member ends as it would alone."""

from __future__ import annotations

from typing import Any

import torch
from safetensors.torch import save_file
from sqlalchemy import select

from sdd_core.models import create_model
from service.artifact_stores import get_artifact_store
from service.artifacts import model_weights_key
from service.db.models import Artifact, UploadedModel
from service.db.session import session_scope
from tests.fixtures.job_rows import job_events, job_row
from tests.worker.worker_harness import TINY_SPEC
from worker import runner


def _teacher_model(settings, tenant_id: str) -> str:
    torch.manual_seed(0)
    weights = {k: v.contiguous() for k, v in create_model("resnet8", 10).state_dict().items()}
    with session_scope(settings) as session:
        row = UploadedModel(tenant_id=tenant_id, arch="resnet8", num_classes=10, storage_key="", size_bytes=1,
                            sha256="0" * 64)  # fmt: skip
        session.add(row)
        session.flush()
        model_id = row.id
    path = settings.work_dir / "teacher.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path))
    get_artifact_store(settings).put_file(model_weights_key(model_id), path)
    return model_id


def _spec(model_id: str, **fields: Any) -> dict[str, Any]:
    return {**TINY_SPEC, "method": "sd-kd", "teacher": {"model": model_id}, **fields}


def _student_sha(settings, job_id: str) -> str:
    with session_scope(settings) as session:
        return session.scalar(select(Artifact.sha256).where(Artifact.job_id == job_id, Artifact.kind == "student"))


def test_one_delivery_trains_the_group_and_each_member_ends_as_alone(embedded, make_job, tenant_id):
    model_id = _teacher_model(embedded, tenant_id)
    configs = [{"beta": 1.0, "scales": [1, 2]}, {"beta": 4.0, "scales": [1, 2, 4]}]
    grouped = [make_job(_spec(model_id, **config), group_key="g1") for config in configs]
    assert runner.run_job(grouped[0], embedded) == "succeeded"
    for job_id in grouped:  # the sibling trained in the same task: its own message will find it done
        job = job_row(embedded, job_id)
        assert job.status == "succeeded" and job.epoch == 1, job.error_message
        assert [e.type for e in job_events(embedded, job_id)].count("epoch") == 1
    assert runner.run_job(grouped[1], embedded) == "succeeded"  # that message: skipped, nothing trained twice
    alone = [make_job(_spec(model_id, **config)) for config in configs]  # no group: trained one by one
    for job_id in alone:
        assert runner.run_job(job_id, embedded) == "succeeded"
    assert [_student_sha(embedded, j) for j in grouped] == [_student_sha(embedded, j) for j in alone]


def test_a_sibling_another_worker_runs_is_not_claimed(embedded, make_job, tenant_id):
    model_id = _teacher_model(embedded, tenant_id)
    first = make_job(_spec(model_id, beta=1.0), group_key="g2")
    other = make_job(_spec(model_id, beta=2.0), group_key="g2", status="running")  # someone else's already
    assert runner.run_job(first, embedded) == "succeeded"
    assert job_row(embedded, other).status == "running" and job_row(embedded, other).epoch == 0
