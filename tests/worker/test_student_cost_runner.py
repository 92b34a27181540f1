"""A finished job records what its student costs to run, through ``run_job`` (the worker's path): in
its result (REST's ``result.cost``) and in its model card."""

from __future__ import annotations

import json

from sqlalchemy import select

from api.schemas.jobs import JobResult
from service.artifact_stores import get_artifact_store
from service.db.models import Artifact
from service.db.session import session_scope
from tests.fixtures.job_rows import job_row
from tests.worker.test_runner import _upload_dataset
from tests.worker.worker_harness import TINY_SPEC
from worker import runner


def test_a_tiny_job_records_parameters_flops_and_cpu_latency(embedded, make_job, tenant_id) -> None:
    dataset_id = _upload_dataset(embedded, tenant_id)  # 2 classes, 8 training images of 16 px: trains in a blink
    job_id = make_job({**TINY_SPEC, "dataset": dataset_id, "image_size": 8})
    assert runner.run_job(job_id, embedded) == "succeeded", job_row(embedded, job_id).error_message
    cost = job_row(embedded, job_id).result["cost"]
    assert cost["parameters"] == 78042 - 8 * 65 and cost["image_size"] == 8  # resnet8, 2 classes instead of 10
    assert 1e6 < cost["flops_per_image"] < 2e6  # a sixteenth of resnet8's 25 M FLOPs at 32 px
    cpu = [(m["device"], m["batch"], m["threads"]) for m in cost["latency"]]
    assert cpu == [("cpu", 1, 1), ("cpu", 64, 1)]  # onnxruntime, 1 thread, at batch 1 and 64
    assert all(m["median_ms"] > 0 and m["runtime"].startswith("onnxruntime") and m["hardware"] for m in cost["latency"])
    assert cost["skipped"] == {"cuda": "the job trained on the CPU: no GPU to time it on"}
    result = JobResult.model_validate(job_row(embedded, job_id).result)  # what GET /v1/jobs/{id} shows
    assert result.cost is not None and result.cost.latency[1].batch == 64 and result.teacher_val_top1 is None
    with session_scope(embedded) as session:
        key = session.scalar(select(Artifact.key).where(Artifact.job_id == job_id, Artifact.kind == "card"))
    card = json.loads(get_artifact_store(embedded).path(key).read_text())
    assert card["cost"] == cost
