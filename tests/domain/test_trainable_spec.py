"""A stored job -> the JobSpec the trainer runs: validated again as at submission, ids turned into
files (uploaded datasets, teacher jobs and models), tenants kept apart."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import Conflict, InvalidRequest, NotFound
from domain.jobs.validation import trainable_spec
from sdd_core.errors import TeacherError
from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_key, job_student_key, model_weights_key
from service.db.models import Dataset, Job, Tenant, UploadedModel
from service.db.session import session_scope
from tests.worker.worker_harness import TINY_SPEC

KD_SPEC = {**TINY_SPEC, "method": "kd"}


def _dataset_row(tenant_id: str) -> Dataset:
    return Dataset(
        tenant_id=tenant_id,
        name="shapes",
        classes=["a", "b"],
        num_classes=2,
        image_size=32,
        train_count=2,
        val_count=2,
        class_counts={},
        storage_key="",
        size_bytes=0,
        sha256="0" * 64,
    )


@pytest.fixture
def store(embedded):
    return get_artifact_store(embedded)


@pytest.fixture
def other_tenant_id(embedded) -> str:
    with session_scope(embedded) as session:
        tenant = Tenant(name="other")
        session.add(tenant)
        session.flush()
        return tenant.id


def _resolve(settings, tenant_id: str, spec: dict[str, Any], store):
    with session_scope(settings) as session:
        job = Job(tenant_id=tenant_id, spec=spec, epochs=1)
        session.add(job)
        session.flush()
        return trainable_spec(session, settings, job, store)


def test_builtin_dataset_drops_rest_only_keys_and_fills_defaults(embedded, tenant_id, store):
    spec = _resolve(embedded, tenant_id, TINY_SPEC, store)
    assert spec.dataset == "digits" and spec.teacher is None
    assert spec.hyperparameters.epochs == 1 and spec.hyperparameters.lr == 0.05  # default filled in
    assert "metadata" not in spec.model_dump()


def test_a_row_stored_when_non_sd_specs_carried_scales_and_beta_trains_without_them(embedded, tenant_id, store):
    spec = _resolve(embedded, tenant_id, {**TINY_SPEC, "scales": [1, 2, 4], "beta": 2.0}, store)
    assert (spec.method, spec.scales, spec.beta) == ("ce", None, None)


def test_uploaded_dataset_becomes_an_imagefolder_in_the_store(embedded, tenant_id, store):
    with session_scope(embedded) as session:
        row = _dataset_row(tenant_id)
        session.add(row)
        session.flush()
        dataset_id = row.id
    folder = store.path(dataset_key(dataset_id))
    for split in ("train", "val"):
        (folder / split / "a").mkdir(parents=True)
    spec = _resolve(embedded, tenant_id, {**TINY_SPEC, "dataset": dataset_id}, store)
    assert spec.dataset == f"imagefolder:{folder}"


def test_another_tenants_dataset_is_not_found(embedded, tenant_id, other_tenant_id, store):
    with session_scope(embedded) as session:
        row = _dataset_row(other_tenant_id)
        session.add(row)
        session.flush()
        dataset_id = row.id
    (store.path(dataset_key(dataset_id)) / "train").mkdir(parents=True)
    with pytest.raises(NotFound, match="no dataset") as info:
        _resolve(embedded, tenant_id, {**TINY_SPEC, "dataset": dataset_id}, store)
    assert info.value.location == ("dataset",)


def test_server_paths_are_refused(embedded, tenant_id, store):
    with pytest.raises(InvalidRequest) as info:
        _resolve(embedded, tenant_id, {**TINY_SPEC, "dataset": "imagefolder:/etc"}, store)
    assert (info.value.code, info.value.location) == ("invalid_spec", ("dataset",))


def test_teacher_job_is_that_jobs_student(embedded, tenant_id, store):
    with session_scope(embedded) as session:
        teacher = Job(tenant_id=tenant_id, spec={**TINY_SPEC, "student": "resnet20"}, epochs=1, status="succeeded")
        session.add(teacher)
        session.flush()
        teacher_id = teacher.id
    store.put_bytes(job_student_key(teacher_id), b"weights")
    spec = _resolve(embedded, tenant_id, {**KD_SPEC, "teacher": {"job": teacher_id}}, store)
    assert spec.teacher is not None
    assert spec.teacher.arch == "resnet20"
    assert spec.teacher.checkpoint == str(store.path(job_student_key(teacher_id)))


@pytest.mark.parametrize("status", ["running", "failed"])
def test_teacher_job_must_have_succeeded(embedded, tenant_id, store, status):
    with session_scope(embedded) as session:
        teacher = Job(tenant_id=tenant_id, spec=TINY_SPEC, epochs=1, status=status)
        session.add(teacher)
        session.flush()
        teacher_id = teacher.id
    with pytest.raises(Conflict, match=status) as info:
        _resolve(embedded, tenant_id, {**KD_SPEC, "teacher": {"job": teacher_id}}, store)
    assert (info.value.code, info.value.location) == ("teacher_not_succeeded", ("teacher", "job"))


def test_teacher_model_uses_its_arch_and_weights(embedded, tenant_id, other_tenant_id, store):
    with session_scope(embedded) as session:
        mine = UploadedModel(
            tenant_id=tenant_id, arch="resnet32", num_classes=10, storage_key="", size_bytes=1, sha256="0" * 64
        )
        theirs = UploadedModel(
            tenant_id=other_tenant_id, arch="resnet32", num_classes=10, storage_key="", size_bytes=1, sha256="0" * 64
        )
        session.add_all([mine, theirs])
        session.flush()
        mine_id, theirs_id = mine.id, theirs.id
    with pytest.raises(TeacherError, match="missing"):
        _resolve(embedded, tenant_id, {**KD_SPEC, "teacher": {"model": mine_id}}, store)
    store.put_bytes(model_weights_key(mine_id), b"weights")
    store.put_bytes(model_weights_key(theirs_id), b"weights")
    spec = _resolve(embedded, tenant_id, {**KD_SPEC, "teacher": {"model": mine_id}}, store)
    assert spec.teacher is not None
    assert (spec.teacher.arch, spec.teacher.checkpoint) == ("resnet32", str(store.path(model_weights_key(mine_id))))
    with pytest.raises(NotFound, match="no model") as info:
        _resolve(embedded, tenant_id, {**KD_SPEC, "teacher": {"model": theirs_id}}, store)
    assert info.value.location == ("teacher", "model")


@pytest.mark.parametrize(
    "teacher", [{"arch": "resnet8", "checkpoint": "/etc/passwd"}, "job_x", {"job": "a", "model": "b"}]
)
def test_other_teacher_forms_are_refused(embedded, tenant_id, store, teacher):
    with pytest.raises(InvalidRequest) as info:
        _resolve(embedded, tenant_id, {**KD_SPEC, "teacher": teacher}, store)
    assert info.value.location[0] == "teacher"


def test_invalid_stored_spec_is_a_spec_error(embedded, tenant_id, store):
    with pytest.raises(InvalidRequest) as info:
        _resolve(embedded, tenant_id, {**TINY_SPEC, "student": "nonexistent"}, store)
    assert (info.value.code, info.value.location) == ("invalid_spec", ("student",))


def test_a_combination_the_models_refuse_is_refused_before_training(embedded, tenant_id, store):
    """The same model checks as at submission: scale 8 does not fit resnet8's 4x4 map at 16 px."""
    spec = {**KD_SPEC, "method": "sd-kd", "scales": [1, 8]}
    with session_scope(embedded) as session:
        model = UploadedModel(
            tenant_id=tenant_id, arch="resnet8", num_classes=10, storage_key="", size_bytes=1, sha256="0" * 64
        )
        session.add(model)
        session.flush()
        spec["teacher"] = {"model": model.id}
    store.put_bytes(model_weights_key(spec["teacher"]["model"]), b"weights")
    with pytest.raises(InvalidRequest) as info:
        _resolve(embedded, tenant_id, spec, store)
    assert (info.value.code, info.value.location) == ("invalid_spec", ("scales",))
