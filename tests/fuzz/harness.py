"""The fuzzing harness shared by ``tests/fuzz/test_openapi.py`` (CI budget) and ``benchmarks/fuzz.py``.

- ``seed_objects``: jobs in every state (with metrics, events, checkpoints, a student), a dataset,
  a model and a finished sweep (members with per-class results) of the caller's tenant, so fuzzing reaches the answers that carry real data, where
  the response schemas matter most.
- ``steer``: half of the generated valid requests name a seeded object in the path, and half of the
  generated job submissions get a dataset, student, method and teacher that exist, a fresh
  student and one device (the rest of
  the body stays generated: hyper-parameters, scales, beta, image size, metadata), so they get
  past the first check and into resolving defaults, limits and the compatibility check.
- ``fuzz_operation``: up to N generated requests to one operation, each answer checked.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select, update

from sdd_core.spec import METHODS, SD_METHODS
from service.artifact_stores import get_artifact_store
from service.artifacts import job_card_key, job_checkpoint_key, job_student_key
from service.db.models import Artifact, Dataset, Job, JobEvent, JobMetric, Tenant, UploadedModel, utcnow
from service.db.session import get_sessionmaker
from service.settings import Settings

CHECKS = [
    not_a_server_error,  # never a 5xx
    status_code_conformance,  # the status is documented for the operation
    content_type_conformance,  # ... and so are the media type,
    response_headers_conformance,  # the headers
    response_schema_conformance,  # and the body
    negative_data_rejection,  # a request that violates the schema is refused with a 4xx
]
STUDENTS = ("resnet8", "resnet8x4", "wrn_16_2", "mobilenetv2", "shufflenetv1", "tv/resnet18", "tv/vit_b_16")


@dataclass
class Seeds:
    """Ids of the seeded objects, by path parameter name."""

    ids: dict[str, list[str]]
    succeeded_job: str
    dataset: str
    model: str


@dataclass
class Stats:
    """Answers seen, by operation and status; failed operations with their first failure."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def _metrics_row(epoch: int) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "epochs": 3,
        "lr": 0.05,
        "train_loss": 1.0 / epoch,
        "train_ce": 0.5 / epoch,
        "train_kd": 0.5 / epoch,
        "val_top1": 50.0 + epoch,
        "val_top5": 90.0,
        "best_val_top1": 50.0 + epoch,
        "complementary_share": 0.2,
        "seconds": 1.0,
    }


def seed_objects(client: httpx.Client, settings: Settings, token: str) -> Seeds:
    """Create the caller's objects through the API where it can, the rest as a worker would in SQL."""
    auth = {"Authorization": f"Bearer {token}"}

    def submit(**body: Any) -> str:
        base = {"dataset": "digits", "student": "resnet8", "method": "ce", "hyperparameters": {"epochs": 3}}
        response = client.post("/v1/jobs", json={**base, **body}, headers=auth)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    queued, running, succeeded, failed, cancelled = (submit(seed=i) for i in range(5))
    assert client.post(f"/v1/jobs/{cancelled}/cancel", headers=auth).status_code == 202
    store = get_artifact_store(settings)
    now = utcnow()
    with get_sessionmaker(settings)() as session:
        tenant_id = session.scalar(select(Job.tenant_id).where(Job.id == queued))
        assert session.get(Tenant, tenant_id) is not None
        for job_id, status in ((running, "running"), (succeeded, "succeeded"), (failed, "failed")):
            session.execute(update(Job).where(Job.id == job_id).values(status=status, started_at=now, epoch=2))
            for epoch in (1, 2):
                session.add(JobMetric(job_id=job_id, epoch=epoch, data=_metrics_row(epoch)))
                session.add(JobEvent(job_id=job_id, type="epoch", message=f"epoch {epoch}", data={"epoch": epoch}))
                stored = store.put_bytes(job_checkpoint_key(job_id, epoch), b"checkpoint %d" % epoch)
                session.add(
                    Artifact(
                        job_id=job_id,
                        kind="checkpoint",
                        epoch=epoch,
                        key=stored.key,
                        size_bytes=stored.size_bytes,
                        sha256=stored.sha256,
                    )
                )
        session.execute(
            update(Job)
            .where(Job.id == succeeded)
            .values(finished_at=now, result={"val_top1": 52.0, "val_top5": 90.0, "best_val_top1": 52.0})
        )
        for kind, key, data in (
            ("student", job_student_key(succeeded), b"weights"),
            ("card", job_card_key(succeeded), json.dumps({"arch": "resnet8"}).encode()),
        ):
            stored = store.put_bytes(key, data)
            session.add(
                Artifact(
                    job_id=succeeded,
                    kind=kind,
                    epoch=0,
                    key=stored.key,
                    size_bytes=stored.size_bytes,
                    sha256=stored.sha256,
                )
            )
        session.execute(
            update(Job)
            .where(Job.id == failed)
            .values(finished_at=now, error_code="non_finite", error_message="the loss became NaN at epoch 2")
        )
        dataset = Dataset(
            tenant_id=tenant_id,
            name="seeded",
            classes=[str(i) for i in range(10)],
            num_classes=10,
            image_size=32,
            train_count=10,
            val_count=10,
            class_counts={},
            storage_key="datasets/seeded",
            size_bytes=1,
            sha256="0" * 64,
        )
        model = UploadedModel(
            tenant_id=tenant_id,
            name="seeded",
            arch="resnet8",
            num_classes=10,
            storage_key="models/seeded",
            size_bytes=1,
            sha256="0" * 64,
        )
        session.add_all([dataset, model])
        session.commit()
    sweep = _seed_sweep(client, settings, auth, succeeded)
    jobs = [queued, running, succeeded, failed, cancelled]
    return Seeds(
        {"job_id": jobs, "dataset_id": [dataset.id], "model_id": [model.id], "sweep_id": [sweep]},
        succeeded,
        dataset.id,
        model.id,
    )


def _seed_sweep(client: httpx.Client, settings: Settings, auth: dict[str, str], teacher: str) -> str:
    """A sweep of KD and SD-KD over two seeds whose members succeeded with per-class results, so its
    report has every part."""
    base = {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher": {"job": teacher}}
    body = {"base": base | {"hyperparameters": {"epochs": 3}}, "grid": {"method": ["kd", "sd-kd"], "seed": [0, 1]}}
    response = client.post("/v1/sweeps", json=body, headers=auth)
    assert response.status_code == 201, response.text
    sweep = response.json()
    with get_sessionmaker(settings)() as session:
        for index, member in enumerate(sweep["members"]):
            correct = [5 + index, 9, 7] + [8] * 7
            result = {"val_top1": 50.0 + index, "val_top5": 90.0, "best_val_top1": 51.0 + index}
            result["per_class"] = {"correct": correct, "total": [10] * 10}
            result["confusion"] = [[10 if i == j else 0 for j in range(10)] for i in range(10)]
            values = dict(status="succeeded", epoch=3, result=result, run_seconds=12.5)
            session.execute(update(Job).where(Job.id == member["id"]).values(**values))
            for epoch in (1, 2, 3):
                session.add(JobMetric(job_id=member["id"], epoch=epoch, data=_metrics_row(epoch)))
        session.commit()
    return str(sweep["id"])


def steer(case: Any, data: st.DataObject, seeds: Seeds) -> None:
    """Point half of the valid requests at seeded objects (see the module docstring)."""
    for name in list(case.path_parameters or {}):
        if name in seeds.ids and data.draw(st.booleans(), label=f"seeded {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(seeds.ids[name]), label=name)
    if case.operation.label == "POST /v1/sweeps" and isinstance(case.body, dict) and data.draw(st.booleans()):
        base = case.body.get("base")
        if isinstance(base, dict):
            base.update(dataset="digits", student="resnet8", method="kd", teacher={"job": seeds.succeeded_job})
    if case.operation.label == "POST /v1/jobs" and isinstance(case.body, dict) and data.draw(st.booleans()):
        method = data.draw(st.sampled_from(METHODS), label="method")
        teacher = (
            None
            if method == "ce"
            else data.draw(st.sampled_from([{"job": seeds.succeeded_job}, {"model": seeds.model}]), label="teacher")
        )
        case.body.update(
            dataset=data.draw(st.sampled_from(["digits", seeds.dataset]), label="dataset"),
            student=data.draw(st.sampled_from(STUDENTS), label="student"),
            method=method,
            teacher=teacher,
            init="scratch",  # pretrained weights are not in this test's caches; a warm start needs the arch
            devices=1,  # N devices need a batch size that N divides, which the generated one rarely is
            sync_batchnorm=False,
        )
        if method not in SD_METHODS:  # scales and beta shape the SD methods only: another method refuses them
            case.body.pop("scales", None)
            case.body.pop("beta", None)


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    token: str,
    seeds: Seeds,
    max_examples: int,
    stats: Stats,
    **call_kwargs: Any,
) -> None:
    """Up to ``max_examples`` requests to ``operation``; raises on the first failed check."""

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported as is
    )
    def run(case: Any, data: st.DataObject) -> None:
        if mode == GenerationMode.POSITIVE:
            steer(case, data, seeds)
        response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, **call_kwargs)
        stats.statuses[(operation.label, response.status_code)] += 1

    run()


def configure_schema(schema: Any) -> Any:
    """The token is sent with every request rather than generated, and unknown query parameters
    are ignored (as most HTTP APIs do), so neither is a request that must be refused. Generated
    text is UTF-8 without NUL: the service refuses the rest on purpose (``domain.text_rules``), and
    ``tests/fuzz/test_hostile_inputs.py`` sends exactly those."""
    schema.config.generation.update(
        with_security_parameters=False, allow_extra_parameters=False, allow_x00=False, codec="utf-8"
    )
    return schema


def fuzz_schema(
    schema: Any, modes: list[GenerationMode], token: str, seeds: Seeds, max_examples: int, **call_kwargs: Any
) -> Stats:
    """Every operation of ``schema`` in every mode; failures are collected, not raised."""
    stats = Stats()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            try:
                fuzz_operation(operation, mode, token, seeds, max_examples, stats, **call_kwargs)
            except Unsatisfiable:  # no parameters, so no invalid request to make (e.g. GET /healthz)
                if mode != GenerationMode.NEGATIVE:
                    raise
            except (Exception, BaseExceptionGroup) as exc:  # every operation runs; all failures are reported
                stats.failures[f"{operation.label} ({mode.value})"] = f"{type(exc).__name__}: {exc}"
    return stats
