"""The migrations build exactly the schema of ``service/db/models.py``, forwards and back, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from service import migrate
from service.db.models import Base
from service.db.session import create_db_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'sdd.sqlite'}"
    return request.getfixturevalue("postgres_url")


def _schema_differences(url: str) -> list:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert migrate.current_revision(database_url) is None

    assert migrate.upgrade(database_url) == migrate.head_revision()
    assert _tables(database_url) == set(Base.metadata.tables)
    assert _schema_differences(database_url) == []

    assert migrate.downgrade(database_url) is None
    assert _tables(database_url) == set()

    assert migrate.upgrade(database_url) == migrate.head_revision()
    assert _schema_differences(database_url) == []


def test_upgrade_uses_settings_when_no_url_given(sdd_env) -> None:
    settings = sdd_env()
    assert migrate.upgrade() == migrate.head_revision()
    assert migrate.current_revision(str(settings.database_url)) == migrate.head_revision()
    assert (settings.home / "sdd.sqlite").exists()


# The rows a database at 0002 holds, written without the ORM (whose model is already at head).
_TENANTS = sa.table("tenants", sa.column("id"), sa.column("name"), sa.column("created_at", sa.DateTime(timezone=True)))
_JOBS = sa.table(
    "jobs",
    sa.column("id"),
    sa.column("tenant_id"),
    sa.column("status"),
    sa.column("spec", sa.JSON()),
    sa.column("epoch"),
    sa.column("epochs"),
    sa.column("cancel_requested", sa.Boolean()),
    sa.column("attempts"),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_METRICS = sa.table(
    "job_metrics",
    sa.column("job_id"),
    sa.column("epoch"),
    sa.column("data", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _run(url: str, statement: sa.Executable) -> list[tuple]:
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(statement)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _job_columns(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("jobs")}
    finally:
        engine.dispose()


def test_batch_progress_columns_come_and_go_keeping_jobs_and_their_metrics(database_url: str) -> None:
    assert migrate.upgrade(database_url, "0002_job_recovery") == "0002_job_recovery"
    now = datetime.now(UTC)
    _run(database_url, sa.insert(_TENANTS).values(id="tnt_1", name="acme", created_at=now))
    _run(
        database_url,
        sa.insert(_JOBS).values(
            id="job_1",
            tenant_id="tnt_1",
            status="running",
            spec={"dataset": "digits"},
            epoch=2,
            epochs=5,
            cancel_requested=False,
            attempts=1,
            created_at=now,
            updated_at=now,
        ),
    )
    _run(database_url, sa.insert(_METRICS).values(job_id="job_1", epoch=2, data={"val_top1": 50.0}, created_at=now))

    assert migrate.upgrade(database_url, "0003_batch_progress") == "0003_batch_progress"
    assert {"batch", "batches"} <= _job_columns(database_url)
    jobs = sa.table("jobs", sa.column("id"), sa.column("epoch"), sa.column("batch"), sa.column("batches"))
    assert _run(database_url, sa.select(jobs)) == [("job_1", 2, None, None)]
    _run(database_url, sa.update(jobs).values(batch=12, batches=57))

    assert migrate.downgrade(database_url, "0002_job_recovery") == "0002_job_recovery"
    assert not {"batch", "batches"} & _job_columns(database_url)
    assert _run(database_url, sa.select(_JOBS.c.id, _JOBS.c.epoch)) == [("job_1", 2)]
    assert _run(database_url, sa.select(_METRICS.c.job_id, _METRICS.c.epoch)) == [("job_1", 2)]  # no cascade


def test_counting_a_tenants_jobs_in_flight_uses_the_tenant_status_index(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'sdd.sqlite'}"
    migrate.upgrade(url)
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT count(*) FROM jobs WHERE tenant_id = 't' AND status IN ('queued', 'running')"
            ).all()
    finally:
        engine.dispose()
    assert any("ix_jobs_tenant_status" in str(row) for row in plan), plan


def test_sweeps_come_and_go_keeping_their_member_jobs(database_url: str) -> None:
    assert migrate.upgrade(database_url, "0004_jobs_tenant_status_index") == "0004_jobs_tenant_status_index"
    now = datetime.now(UTC)
    _run(database_url, sa.insert(_TENANTS).values(id="tnt_1", name="acme", created_at=now))
    job = dict(status="queued", spec={"dataset": "digits"}, epoch=0, epochs=5, cancel_requested=False, attempts=0)
    _run(database_url, sa.insert(_JOBS).values(id="job_1", tenant_id="tnt_1", created_at=now, updated_at=now, **job))

    assert migrate.upgrade(database_url, "0005_sweeps") == "0005_sweeps"
    assert "sweeps" in _tables(database_url) and {"sweep_id", "group_key"} <= _job_columns(database_url)
    sweeps = sa.table(
        "sweeps",
        sa.column("id"),
        sa.column("tenant_id"),
        sa.column("request", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    jobs = sa.table("jobs", sa.column("id"), sa.column("sweep_id"), sa.column("group_key"))
    assert _run(database_url, sa.select(jobs)) == [("job_1", None, None)]  # a job submitted alone
    request = {"base": {"dataset": "digits"}, "grid": {"seed": [0, 1]}}
    _run(
        database_url,
        sa.insert(sweeps).values(id="swp_1", tenant_id="tnt_1", request=request, created_at=now, updated_at=now),
    )
    _run(database_url, sa.insert(_JOBS).values(id="job_2", tenant_id="tnt_1", created_at=now, updated_at=now, **job))
    _run(
        database_url, sa.update(jobs).where(jobs.c.id == "job_2").values(sweep_id="swp_1", group_key="0123456789abcdef")
    )
    with pytest.raises(sa.exc.IntegrityError):  # the member points at a sweep that exists
        _run(database_url, sa.update(jobs).where(jobs.c.id == "job_1").values(sweep_id="swp_nope"))

    assert migrate.downgrade(database_url, "0004_jobs_tenant_status_index") == "0004_jobs_tenant_status_index"
    assert "sweeps" not in _tables(database_url)
    assert not {"sweep_id", "group_key"} & _job_columns(database_url)
    assert sorted(_run(database_url, sa.select(_JOBS.c.id))) == [("job_1",), ("job_2",)]  # the members stay, as jobs


def test_stored_text_no_encoder_accepts_is_repaired(database_url: str) -> None:
    """A lone surrogate stored in a job's metadata (escaped by JSON) becomes U+FFFD; the rest stays."""
    assert migrate.upgrade(database_url, "0005_sweeps") == "0005_sweeps"
    now = datetime.now(UTC)
    _run(database_url, sa.insert(_TENANTS).values(id="tnt_1", name="acme", created_at=now))
    job = dict(status="queued", spec={"dataset": "digits"}, epoch=0, epochs=5, cancel_requested=False, attempts=0)
    metadata = sa.table("jobs", sa.column("id"), sa.column("metadata", sa.JSON()))
    for job_id, value in (("job_bad", {"note": "a\ud800b", "\udfffkey": ["x\x00"]}), ("job_ok", {"note": "fine"})):
        _run(database_url, sa.insert(_JOBS).values(id=job_id, tenant_id="tnt_1", created_at=now, updated_at=now, **job))
        _run(database_url, sa.update(metadata).where(metadata.c.id == job_id).values(metadata=value))

    assert migrate.upgrade(database_url, "0006_repair_stored_text") == "0006_repair_stored_text"
    rows = dict(_run(database_url, sa.select(metadata.c.id, metadata.c.metadata)))
    assert rows == {"job_bad": {"note": "a\ufffdb", "\ufffdkey": ["x\ufffd"]}, "job_ok": {"note": "fine"}}
    json.dumps(rows["job_bad"], ensure_ascii=False).encode()  # encodes again


def test_job_names_and_tags_come_and_go_keeping_the_jobs(database_url: str) -> None:
    assert migrate.upgrade(database_url, "0006_repair_stored_text") == "0006_repair_stored_text"
    now = datetime.now(UTC)
    _run(database_url, sa.insert(_TENANTS).values(id="tnt_1", name="acme", created_at=now))
    job = dict(status="queued", spec={"dataset": "digits"}, epoch=0, epochs=5, cancel_requested=False, attempts=0)
    _run(database_url, sa.insert(_JOBS).values(id="job_1", tenant_id="tnt_1", created_at=now, updated_at=now, **job))

    assert migrate.upgrade(database_url, "0007_job_names") == "0007_job_names"
    jobs = sa.table("jobs", sa.column("id"), sa.column("name"))
    tags = sa.table("job_tags", sa.column("job_id"), sa.column("tag"))
    assert _run(database_url, sa.select(jobs)) == [("job_1", None)]  # an older job has no name
    _run(database_url, sa.update(jobs).values(name="baseline"))
    _run(database_url, sa.insert(tags).values(job_id="job_1", tag="beta-sweep"))
    with pytest.raises(sa.exc.IntegrityError):  # a tag once per job
        _run(database_url, sa.insert(tags).values(job_id="job_1", tag="beta-sweep"))
    with pytest.raises(sa.exc.IntegrityError):  # a tag of a job that exists
        _run(database_url, sa.insert(tags).values(job_id="job_nope", tag="x"))

    assert migrate.downgrade(database_url, "0006_repair_stored_text") == "0006_repair_stored_text"
    assert "job_tags" not in _tables(database_url) and "name" not in _job_columns(database_url)
    assert _run(database_url, sa.select(_JOBS.c.id)) == [("job_1",)]


def test_job_requests_come_and_go_older_jobs_asking_for_their_spec(database_url: str) -> None:
    assert migrate.upgrade(database_url, "0008_worker_nodes") == "0008_worker_nodes"
    now = datetime.now(UTC)
    _run(database_url, sa.insert(_TENANTS).values(id="tnt_1", name="acme", created_at=now))
    spec = {"dataset": "digits", "student": "resnet8", "method": "ce", "hyperparameters": {"epochs": 5, "lr": 0.05}}
    job = dict(status="queued", spec=spec, epoch=0, epochs=5, cancel_requested=False, attempts=0)
    _run(database_url, sa.insert(_JOBS).values(id="job_1", tenant_id="tnt_1", created_at=now, updated_at=now, **job))

    assert migrate.upgrade(database_url, "0009_job_requests") == "0009_job_requests"
    jobs = sa.table("jobs", sa.column("id"), sa.column("request", sa.JSON()))
    assert _run(database_url, sa.select(jobs)) == [("job_1", spec)]  # every value stated: a copy keeps them
    with pytest.raises(sa.exc.IntegrityError):  # every job has its request
        _run(database_url, sa.update(jobs).values(request=sa.null()))

    assert migrate.downgrade(database_url, "0008_worker_nodes") == "0008_worker_nodes"
    assert "request" not in _job_columns(database_url)
    assert _run(database_url, sa.select(_JOBS.c.id, _JOBS.c.spec)) == [("job_1", spec)]


def test_job_devices_filled_from_older_specs_and_set_on_insert(database_url: str) -> None:
    assert migrate.upgrade(database_url, "0011_dataset_uploads") == "0011_dataset_uploads"
    now = datetime.now(UTC)
    _run(database_url, sa.insert(_TENANTS).values(id="tnt_1", name="acme", created_at=now))
    base = {"dataset": "digits", "student": "resnet8", "method": "ce"}
    job = dict(status="queued", epoch=0, epochs=5, cancel_requested=False, attempts=0, created_at=now, updated_at=now)
    jobs_at_0011 = sa.table("jobs", *(sa.column(c.name, c.type) for c in _JOBS.c), sa.column("request", sa.JSON()))
    for job_id, spec in (("job_1", base), ("job_2", base | {"devices": 4}), ("job_3", base | {"devices": 1})):
        _run(database_url, sa.insert(jobs_at_0011).values(id=job_id, tenant_id="tnt_1", spec=spec, request=spec, **job))

    assert migrate.upgrade(database_url, "0012_job_devices") == "0012_job_devices"
    devices = sa.table("jobs", sa.column("id"), sa.column("devices"))
    assert sorted(_run(database_url, sa.select(devices))) == [("job_1", 1), ("job_2", 4), ("job_3", 1)]
    assert migrate.downgrade(database_url, "0011_dataset_uploads") == "0011_dataset_uploads"
    assert "devices" not in _job_columns(database_url)


def test_the_reapers_query_for_queued_multi_device_jobs_uses_the_status_devices_index(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'sdd.sqlite'}"
    migrate.upgrade(url)
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE status = 'queued' AND devices > 1"
            ).all()
    finally:
        engine.dispose()
    assert any("ix_jobs_status_devices" in str(row) for row in plan), plan
