"""What a job's references point at (``domain.jobs.references``), on the embedded database and the
local artifact store: dataset and teacher facts, pretrained weights on this machine, the
student's start, and the files the trainer is handed. Another tenant's objects read as missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import save

from domain.errors import Conflict, InvalidRequest, NotFound, not_found
from domain.jobs import references
from domain.jobs.job_request import TeacherRef, WeightsRef
from domain.jobs.references import DatasetFacts, TeacherFacts
from sdd_core.errors import DataError, TeacherError
from sdd_core.models import create_model
from sdd_core.models.pretrained_weights import expected_weights_path
from sdd_core.spec import TeacherCheckpoint, WarmStart
from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_key, job_student_key, model_weights_key
from service.db.models import Artifact, Dataset, Job, Tenant, UploadedModel
from service.db.session import session_scope
from service.local_store import LocalArtifactStore
from service.settings import Settings
from tests.fixtures.weights_caches import write_timm_weights


@pytest.fixture
def other_tenant_id(embedded: Settings) -> str:
    with session_scope(embedded) as session:
        tenant = Tenant(name="bob")
        session.add(tenant)
        session.flush()
        return tenant.id


@pytest.fixture
def store(embedded: Settings) -> LocalArtifactStore:
    built = get_artifact_store(embedded)
    assert isinstance(built, LocalArtifactStore)
    return built


def add_dataset(settings: Settings, tenant_id: str, num_classes: int = 3, image_size: int = 48) -> str:
    with session_scope(settings) as session:
        classes = [f"class{i}" for i in range(num_classes)]
        row = Dataset(
            tenant_id=tenant_id,
            name="birds",
            classes=classes,
            num_classes=num_classes,
            image_size=image_size,
            train_count=6,
            val_count=3,
            class_counts={},
            storage_key="",
            size_bytes=1,
            sha256="0" * 64,
        )
        session.add(row)
        session.flush()
        row.storage_key = dataset_key(row.id)
        return row.id


def add_job(settings: Settings, tenant_id: str, status: str = "succeeded", **spec: Any) -> str:
    with session_scope(settings) as session:
        row = Job(
            tenant_id=tenant_id,
            status=status,
            spec={"dataset": "digits", "student": "resnet8", "method": "ce", "image_size": 32} | spec,
            epochs=1,
        )
        session.add(row)
        session.flush()
        return row.id


def add_model(settings: Settings, tenant_id: str, arch: str = "resnet8", num_classes: int = 10) -> str:
    with session_scope(settings) as session:
        row = UploadedModel(
            tenant_id=tenant_id,
            name="teacher",
            arch=arch,
            num_classes=num_classes,
            storage_key="",
            size_bytes=1,
            sha256="0" * 64,
        )
        session.add(row)
        session.flush()
        row.storage_key = model_weights_key(row.id)
        return row.id


def resnet8_weights() -> bytes:
    return save(create_model("resnet8", 10).state_dict())


# ---------------------------------------------------------------- dataset facts


def test_a_built_in_dataset_has_its_own_classes_and_size(embedded: Settings, tenant_id: str) -> None:
    with session_scope(embedded) as session:
        assert references.dataset_facts(session, embedded, tenant_id, "digits", None) == DatasetFacts(10, 32)
        assert references.dataset_facts(session, embedded, tenant_id, "digits", 64) == DatasetFacts(10, 64)


def test_an_uploaded_dataset_has_the_classes_and_size_of_its_row(embedded: Settings, tenant_id: str) -> None:
    dataset = add_dataset(embedded, tenant_id, num_classes=3, image_size=48)
    with session_scope(embedded) as session:
        assert references.dataset_facts(session, embedded, tenant_id, dataset, None) == DatasetFacts(3, 48)
        assert references.dataset_facts(session, embedded, tenant_id, dataset, 24) == DatasetFacts(3, 24)


def test_another_tenants_dataset_reads_exactly_like_a_missing_one(
    embedded: Settings, tenant_id: str, other_tenant_id: str
) -> None:
    theirs = add_dataset(embedded, other_tenant_id)
    with session_scope(embedded) as session:
        for dataset in (theirs, "ds_missing"):
            with pytest.raises(NotFound) as caught:
                references.dataset_facts(session, embedded, tenant_id, dataset, None)
            expected = not_found("dataset", dataset, ("dataset",))
            assert (caught.value.message, caught.value.code, caught.value.location) == (
                expected.message,
                expected.code,
                expected.location,
            )
        with pytest.raises(NotFound) as elsewhere:
            references.dataset_facts(session, embedded, tenant_id, theirs, None, ("base", "dataset"))
        assert elsewhere.value.location == ("base", "dataset")


def test_a_built_in_dataset_missing_here_is_refused_without_the_servers_folders(
    embedded: Settings, tenant_id: str
) -> None:
    with session_scope(embedded) as session, pytest.raises(InvalidRequest) as caught:
        references.dataset_facts(session, embedded, tenant_id, "cifar10", None)
    assert (caught.value.code, caught.value.location) == (DataError.code, ("dataset",))
    assert caught.value.message == (
        "cifar10 is not on this server: CIFAR-10's files are not in SDD_DATA_ROOT/cifar-10-batches-py, where the "
        "service looked (SDD_DATA_ROOT is this server's data folder, by default $SDD_HOME/data), and "
        "SDD_ALLOW_DOWNLOAD is off, so it may not download them. An operator can set SDD_ALLOW_DOWNLOAD=true (a job "
        "naming cifar10 then downloads it), or extract https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
        "into SDD_DATA_ROOT."
    )
    assert str(embedded.data_root) not in caught.value.message


# ---------------------------------------------------------------- teachers


def test_a_teacher_job_must_have_succeeded(embedded: Settings, tenant_id: str) -> None:
    done = add_job(embedded, tenant_id, "succeeded")
    with session_scope(embedded) as session:
        assert references.teacher_job(session, tenant_id, done).id == done
    for status, hint in [
        ("queued", "wait until it has succeeded"),
        ("running", "wait until it has succeeded"),
        ("failed", "name a succeeded job"),
        ("cancelled", "name a succeeded job"),
    ]:
        job = add_job(embedded, tenant_id, status)
        with session_scope(embedded) as session, pytest.raises(Conflict) as caught:
            references.teacher_job(session, tenant_id, job)
        assert (caught.value.code, caught.value.location) == ("teacher_not_succeeded", ("teacher", "job"))
        assert f"teacher job {job} is {status}" in caught.value.message and hint in caught.value.message


def test_another_tenants_teacher_reads_like_a_missing_one(
    embedded: Settings, tenant_id: str, other_tenant_id: str
) -> None:
    their_job = add_job(embedded, other_tenant_id)
    their_model = add_model(embedded, other_tenant_id)
    with session_scope(embedded) as session:
        for ref, kind, object_id in [
            (TeacherRef(job=their_job), "job", their_job),
            (TeacherRef(job="job_missing"), "job", "job_missing"),
            (TeacherRef(model=their_model), "model", their_model),
            (TeacherRef(model="mdl_missing"), "model", "mdl_missing"),
        ]:
            with pytest.raises(NotFound) as caught:
                references.teacher_facts(session, embedded, tenant_id, ref)
            assert caught.value.message == f"no {kind} with id {object_id!r}"
            assert caught.value.location == ("teacher", kind)


def test_the_facts_of_each_kind_of_teacher(embedded: Settings, tenant_id: str, weights_caches) -> None:
    birds = add_dataset(embedded, tenant_id, num_classes=3)
    on_digits = add_job(embedded, tenant_id, student="resnet20")
    on_birds = add_job(embedded, tenant_id, student="resnet14", dataset=birds, image_size=None)
    model = add_model(embedded, tenant_id, arch="resnet32x4", num_classes=100)
    write_timm_weights(weights_caches.hf_hub, "timm/test_resnet")
    with session_scope(embedded) as session:

        def facts(ref: TeacherRef | None) -> TeacherFacts | None:
            return references.teacher_facts(session, embedded, tenant_id, ref)

        assert facts(None) is None
        assert facts(TeacherRef(job=on_digits)) == TeacherFacts("resnet20", 10)
        assert facts(TeacherRef(job=on_birds)) == TeacherFacts("resnet14", 3)
        assert facts(TeacherRef(model=model)) == TeacherFacts("resnet32x4", 100)
        pretrained = TeacherRef(arch="timm/test_resnet", pretrained=True)
        assert facts(pretrained) == TeacherFacts("timm/test_resnet", 1000, pretrained=True)


def test_a_teacher_whose_dataset_is_gone_is_refused_on_the_teacher(embedded: Settings, tenant_id: str) -> None:
    job = add_job(embedded, tenant_id, dataset="ds_deleted")
    with session_scope(embedded) as session, pytest.raises(NotFound) as caught:
        references.teacher_facts(session, embedded, tenant_id, TeacherRef(job=job))
    assert caught.value.location == ("teacher", "job") and "ds_deleted" in caught.value.message


# ---------------------------------------------------------------- pretrained weights on this machine


def test_a_missing_pretrained_weights_file_is_refused_naming_its_path(
    embedded: Settings, tenant_id: str, weights_caches
) -> None:
    with session_scope(embedded) as session:
        with pytest.raises(InvalidRequest) as caught:
            references.teacher_facts(session, embedded, tenant_id, TeacherRef(arch="tv/resnet18", pretrained=True))
        assert (caught.value.code, caught.value.location) == ("weights_unavailable", ("teacher", "arch"))
        path = expected_weights_path("resnet18")  # named inside its cache, the cache by name
        assert (
            str(weights_caches.torch_home) in str(path) and str(weights_caches.torch_home) not in caught.value.message
        )
        assert f"<torch hub cache>/checkpoints/{path.name}" in caught.value.message

        with pytest.raises(InvalidRequest) as timm:
            references.check_student_init(session, embedded, tenant_id, "timm/test_resnet", "pretrained")
        assert (timm.value.code, timm.value.location) == ("weights_unavailable", ("init",))
        assert "<Hugging Face cache>/models--timm--test_resnet.r160_in1k" in timm.value.message


def test_a_missing_file_is_left_to_the_workers_when_their_caches_are_not_the_apis(sdd_env, weights_caches) -> None:
    for env in ({"check_weights_at_submit": "false"}, {"allow_weight_downloads": "true"}):
        settings = sdd_env(**env)
        weights = references.available_pretrained(settings, "tv/resnet18", ("teacher", "arch"))
        assert (weights.num_classes, weights.file) == (1000, None)


def test_an_architecture_without_pretrained_weights_is_refused(embedded: Settings, tenant_id: str) -> None:
    with session_scope(embedded) as session:
        with pytest.raises(InvalidRequest) as caught:
            references.teacher_facts(session, embedded, tenant_id, TeacherRef(arch="resnet32", pretrained=True))
        assert (caught.value.code, caught.value.location) == ("no_pretrained_weights", ("teacher", "arch"))
        assert "resnet32 has no pretrained weights" in caught.value.message
        with pytest.raises(InvalidRequest) as init:
            references.check_student_init(session, embedded, tenant_id, "resnet8", "pretrained")
        assert (init.value.code, init.value.location) == ("no_pretrained_weights", ("init",))


# ---------------------------------------------------------------- the student's start


def test_a_warm_start_loads_weights_of_the_students_own_architecture(embedded: Settings, tenant_id: str) -> None:
    model = add_model(embedded, tenant_id, arch="resnet8")
    job = add_job(embedded, tenant_id, student="resnet8")
    with session_scope(embedded) as session:
        check = references.check_student_init
        check(session, embedded, tenant_id, "resnet8", "scratch")
        check(session, embedded, tenant_id, "resnet8", WeightsRef(model=model))
        check(session, embedded, tenant_id, "resnet8", WeightsRef(job=job))
        for ref, field, what in [
            (WeightsRef(model=model), "model", f"the weights of model {model} are a resnet8"),
            (WeightsRef(job=job), "job", f"the student weights of job {job} are a resnet8"),
        ]:
            with pytest.raises(InvalidRequest) as caught:
                check(session, embedded, tenant_id, "resnet20", ref)
            assert (caught.value.code, caught.value.location) == ("init_mismatch", ("init", field))
            assert what in caught.value.message and "the student is a resnet20" in caught.value.message


def test_a_warm_start_from_a_job_needs_a_succeeded_job_of_yours(
    embedded: Settings, tenant_id: str, other_tenant_id: str
) -> None:
    running = add_job(embedded, tenant_id, "running")
    theirs = add_job(embedded, other_tenant_id)
    with session_scope(embedded) as session:
        with pytest.raises(Conflict) as caught:
            references.check_student_init(session, embedded, tenant_id, "resnet8", WeightsRef(job=running))
        assert (caught.value.code, caught.value.location) == ("job_not_succeeded", ("init", "job"))
        assert f"job {running} is running" in caught.value.message and "student can be loaded" in caught.value.message
        with pytest.raises(NotFound) as missing:
            references.check_student_init(session, embedded, tenant_id, "resnet8", WeightsRef(job=theirs))
        assert missing.value.location == ("init", "job") and missing.value.message == f"no job with id {theirs!r}"


# ---------------------------------------------------------------- files for the trainer


def test_the_trainer_reads_a_built_in_by_name_and_an_upload_from_its_stored_folder(
    embedded: Settings, tenant_id: str, other_tenant_id: str, store: LocalArtifactStore, tmp_path
) -> None:
    dataset = add_dataset(embedded, tenant_id)
    theirs = add_dataset(embedded, other_tenant_id)
    with session_scope(embedded) as session:
        assert references.dataset_source(session, embedded, tenant_id, "digits", store) == "digits"
        with pytest.raises(DataError) as missing:
            references.dataset_source(session, embedded, tenant_id, dataset, store)
        assert f"the files of dataset {dataset} are missing from the artifact store" in missing.value.message

        folder = tmp_path / "upload"
        for split in ("train", "val"):
            (folder / split / "class0").mkdir(parents=True)
            (folder / split / "class0" / "0.png").write_bytes(b"not looked at here")
        store.put_tree(dataset_key(dataset), folder)
        source = references.dataset_source(session, embedded, tenant_id, dataset, store)
        assert source == f"imagefolder:{store.path(dataset_key(dataset))}"

        with pytest.raises(NotFound) as other:
            references.dataset_source(session, embedded, tenant_id, theirs, store)
        assert other.value.location == ("dataset",)


def test_the_teachers_weights_are_fetched_from_the_store(
    embedded: Settings, tenant_id: str, store: LocalArtifactStore
) -> None:
    weights = resnet8_weights()
    model = add_model(embedded, tenant_id)
    job = add_job(embedded, tenant_id, student="resnet8")
    with session_scope(embedded) as session:
        assert references.teacher_checkpoint(session, tenant_id, None, store) is None
        pretrained = references.teacher_checkpoint(
            session, tenant_id, TeacherRef(arch="tv/resnet18", pretrained=True), store
        )
        assert pretrained == TeacherCheckpoint(arch="tv/resnet18", pretrained=True)

        with pytest.raises(TeacherError) as missing_model:
            references.teacher_checkpoint(session, tenant_id, TeacherRef(model=model), store)
        assert f"the weights of teacher model {model} are missing" in missing_model.value.message
        with pytest.raises(TeacherError) as missing_student:
            references.teacher_checkpoint(session, tenant_id, TeacherRef(job=job), store)
        assert f"the student weights of teacher job {job} are missing" in missing_student.value.message

        store.put_bytes(model_weights_key(model), weights)
        stored = store.put_bytes(job_student_key(job), weights)
        session.add(
            Artifact(job_id=job, kind="student", key=stored.key, size_bytes=stored.size_bytes, sha256=stored.sha256)
        )
        session.commit()
        from_model = references.teacher_checkpoint(session, tenant_id, TeacherRef(model=model), store)
        assert from_model == TeacherCheckpoint(arch="resnet8", checkpoint=str(store.path(model_weights_key(model))))
        from_job = references.teacher_checkpoint(session, tenant_id, TeacherRef(job=job), store)
        assert from_job == TeacherCheckpoint(arch="resnet8", checkpoint=str(store.path(job_student_key(job))))
        assert from_job.checkpoint is not None and Path(from_job.checkpoint).read_bytes() == weights


def test_the_students_start_in_the_trainers_form(embedded: Settings, tenant_id: str, store: LocalArtifactStore) -> None:
    model = add_model(embedded, tenant_id)
    job = add_job(embedded, tenant_id)
    queued = add_job(embedded, tenant_id, "queued")
    store.put_bytes(model_weights_key(model), resnet8_weights())
    with session_scope(embedded) as session:
        assert references.student_init(session, tenant_id, "scratch", store) == "scratch"
        assert references.student_init(session, tenant_id, "pretrained", store) == "pretrained"
        warm = references.student_init(session, tenant_id, WeightsRef(model=model), store)
        assert warm == WarmStart(checkpoint=str(store.path(model_weights_key(model))))
        with pytest.raises(TeacherError) as missing:  # a succeeded job whose student file is not in the store
            references.student_init(session, tenant_id, WeightsRef(job=job), store)
        assert f"the student weights of job {job} are missing" in missing.value.message
        with pytest.raises(Conflict) as unfinished:
            references.student_init(session, tenant_id, WeightsRef(job=queued), store)
        assert (unfinished.value.code, unfinished.value.location) == ("job_not_succeeded", ("init", "job"))
