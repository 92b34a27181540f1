"""Jobs over HTTP: create/get/list, defaults, idempotency, tenant isolation (on SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from domain.jobs.transitions import claim, finish, record_batch_progress, record_epoch
from service.db.models import Job, JobEvent
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings
from tests.fixtures.servers import free_port


def test_create_get_and_defaults_filled_in(any_api: Api) -> None:
    response = any_api.post_job(metadata={"run": "r1"}, hyperparameters={"epochs": 3})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["id"].startswith("job_")
    assert job["status"] == "queued"
    assert job["metadata"] == {"run": "r1"}
    assert job["progress"] == {"epoch": 0, "epochs": 3, "batch": None, "batches": None}
    assert job["result"] is None and job["error"] is None
    assert job["started_at"] is None and job["finished_at"] is None
    assert job["created_at"].endswith(("Z", "+00:00"))
    spec = job["spec"]
    assert spec["dataset"] == "digits" and spec["teacher"] is None
    assert spec["scales"] is None and spec["beta"] is None and spec["seed"] == 0  # scales, beta: SD methods only
    assert spec["image_size"] == 32  # the dataset's size, filled in
    assert spec["hyperparameters"]["epochs"] == 3
    assert spec["hyperparameters"]["kd_weight"] == 0.0 and spec["hyperparameters"]["lr"] == 0.05
    # The request as sent (a copy starts from it): no default filled in, metadata apart.
    sent = {"dataset": "digits", "student": "resnet8", "method": "ce", "hyperparameters": {"epochs": 3}}
    assert job["request"] == sent

    fetched = any_api.get(f"/v1/jobs/{job['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == job

    with any_api.session() as session:
        events = session.scalars(select(JobEvent).where(JobEvent.job_id == job["id"])).all()
        assert [e.type for e in events] == ["queued"]


def test_sd_kd_defaults_from_the_method(any_api: Api) -> None:
    teacher = any_api.create_job()
    any_api.succeed_job(teacher["id"])
    job = any_api.create_job(method="sd-kd", teacher={"job": teacher["id"]})
    hp = job["spec"]["hyperparameters"]
    assert (hp["ce_weight"], hp["kd_weight"], hp["temperature"]) == (0.1, 0.9, 4.0)
    assert hp["epochs"] == 240 and hp["lr_decay_epochs"] == [150, 180, 210]
    assert job["spec"]["teacher"] == {"job": teacher["id"]}


def test_idempotency_key(any_api: Api) -> None:
    key = {"Idempotency-Key": "submit-1"}
    first = any_api.post_job(headers=key, seed=3)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = any_api.post_job(headers=key, seed=3)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    # Defaults written out count as the same body.
    same = any_api.post_job(headers=key, seed=3, protocol="held_out", holdout_fraction=0.1)
    assert same.json()["id"] == first.json()["id"]

    other = any_api.post_job(headers=key, seed=4)
    assert_error(other, 409, "idempotency_conflict", "Idempotency-Key")
    # Keys are per tenant.
    theirs = any_api.post_job(token=any_api.other_token, headers=key, seed=3)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    with any_api.session() as session:
        assert len(session.scalars(select(Job)).all()) == 2


def test_idempotency_race_returns_the_winner(any_api: Api) -> None:
    key = {"Idempotency-Key": "race"}
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: any_api.post_job(headers=key), range(4)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1


def test_list_paging_and_status_filter(any_api: Api) -> None:
    ids = [any_api.create_job(seed=i)["id"] for i in range(5)]
    any_api.create_job(token=any_api.other_token)  # never listed for alice
    newest_first = list(reversed(ids))

    page = any_api.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in page["data"]] == newest_first[:2] and page["has_more"] is True
    page = any_api.get("/v1/jobs", params={"limit": 2, "after": page["data"][-1]["id"]}).json()
    assert [j["id"] for j in page["data"]] == newest_first[2:4] and page["has_more"] is True
    page = any_api.get("/v1/jobs", params={"limit": 2, "after": page["data"][-1]["id"]}).json()
    assert [j["id"] for j in page["data"]] == newest_first[4:] and page["has_more"] is False

    everything = any_api.get("/v1/jobs").json()
    assert [j["id"] for j in everything["data"]] == newest_first and everything["has_more"] is False

    cancelled = any_api.post(f"/v1/jobs/{ids[1]}/cancel")
    assert cancelled.status_code == 202
    only = any_api.get("/v1/jobs", params={"status": "cancelled"}).json()
    assert [j["id"] for j in only["data"]] == [ids[1]]
    queued = any_api.get("/v1/jobs", params={"status": "queued"}).json()
    assert len(queued["data"]) == 4


def test_list_bad_parameters(api: Api) -> None:
    error = assert_error(api.get("/v1/jobs", params={"status": "done"}), 422, "validation_error", "status")
    assert "'queued'" in error["message"] and "'cancelling'" in error["message"]
    assert_error(api.get("/v1/jobs", params={"limit": 0}), 422, param="limit")
    assert_error(api.get("/v1/jobs", params={"limit": 101}), 422, param="limit")
    assert_error(api.get("/v1/jobs", params={"after": "job_nope"}), 422, param="after")


def test_tenant_isolation(any_api: Api) -> None:
    mine = any_api.create_job()
    theirs = any_api.create_job(token=any_api.other_token)
    assert_error(any_api.get(f"/v1/jobs/{theirs['id']}"), 404, "not_found")
    assert_error(any_api.post(f"/v1/jobs/{theirs['id']}/cancel"), 404, "not_found")
    for suffix in ("metrics", "events", "checkpoints", "student", "student/card"):
        assert_error(any_api.get(f"/v1/jobs/{theirs['id']}/{suffix}"), 404, "not_found")
    assert [j["id"] for j in any_api.get("/v1/jobs").json()["data"]] == [mine["id"]]
    assert any_api.get(f"/v1/jobs/{theirs['id']}", token=any_api.other_token).status_code == 200

    # Another tenant's succeeded job cannot be a teacher.
    any_api.succeed_job(theirs["id"])
    response = any_api.post_job(method="kd", teacher={"job": theirs["id"]})
    assert_error(response, 404, "not_found", "teacher.job")


def test_cancel_queued_then_finished(api: Api) -> None:
    job = api.create_job()
    response = api.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    events = api.get(f"/v1/jobs/{job['id']}/events").json()["data"]
    assert [e["type"] for e in events] == ["queued", "cancelled"]
    assert_error(api.post(f"/v1/jobs/{job['id']}/cancel"), 409, "job_finished")

    done = api.create_job()
    api.succeed_job(done["id"])
    assert_error(api.post(f"/v1/jobs/{done['id']}/cancel"), 409, "job_finished")


def test_cancel_running_job_becomes_cancelling(api: Api) -> None:
    job = api.create_job()
    with api.session() as session:
        assert claim(session, job["id"], "w1", 60)
    response = api.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelling"


def test_a_running_job_shows_its_batch_progress(any_api: Api) -> None:
    job = any_api.create_job(hyperparameters={"epochs": 10})
    with any_api.session() as session:
        assert claim(session, job["id"], "w1", 60)
        for epoch in (1, 2, 3):
            assert record_epoch(session, job["id"], {"epoch": epoch, "epochs": 10}, worker="w1")
        assert record_batch_progress(session, job["id"], 4, 12, 57, "w1")
    expected = {"epoch": 3, "epochs": 10, "batch": 12, "batches": 57}
    assert any_api.get(f"/v1/jobs/{job['id']}").json()["progress"] == expected
    listed = any_api.get("/v1/jobs", params={"status": "running"}).json()["data"]
    assert [(j["id"], j["progress"]) for j in listed] == [(job["id"], expected)]

    with any_api.session() as session:
        assert finish(session, job["id"], "failed", error_code="internal_error", worker="w1")
    progress = any_api.get(f"/v1/jobs/{job['id']}").json()["progress"]
    assert progress == {"epoch": 3, "epochs": 10, "batch": None, "batches": None}


def test_job_is_enqueued_on_the_file_broker(api: Api) -> None:
    api.create_job()
    queue_dir = api.settings.broker_dir / "queue"
    assert any(queue_dir.iterdir()), "the job's message should sit in the file broker's queue"


def test_broker_down_still_stores_the_job(sdd_env, sqlite_template) -> None:
    """An unreachable broker (a closed port) does not fail the request: the job stays queued."""
    settings = sqlite_settings(sdd_env, sqlite_template, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    for api in make_api(settings):
        job = api.create_job()
        assert api.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued"
