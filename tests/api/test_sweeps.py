"""Sweeps over HTTP (on SQLite and PostgreSQL): submit, members as jobs, reads, cancel, the report."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.jobs.transitions import claim, finish, record_epoch
from service.db.models import Job, Sweep
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings

GRID = {"method": ["kd", "sd-kd"], "beta": [0, 2], "seed": [0, 1]}


def teacher(api: Api, token: str | None = None) -> str:
    job = api.create_job(token)
    api.succeed_job(job["id"])
    return job["id"]


def sweep_body(teacher_id: str, grid: dict[str, Any] | None = None, **base: Any) -> dict[str, Any]:
    job = {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher": {"job": teacher_id}}
    job["hyperparameters"] = {"epochs": 2}
    return {"name": "beta study", "base": job | base, "grid": GRID if grid is None else grid, "metadata": {"k": 1}}


def counts(api: Api) -> tuple[int, int]:
    with api.session() as session:
        return session.scalar(select(func.count()).select_from(Sweep)), session.scalar(
            select(func.count()).select_from(Job)
        )


def play(api: Api, job_id: str, top1: float, *, correct: list[int] | None = None) -> None:
    """Act as the worker: two epochs, then succeed with ``top1`` (and per-class counts, if given)."""
    with api.session() as session:
        assert claim(session, job_id, "test-worker", 60)
        for epoch, value in ((1, top1 - 10), (2, top1)):
            row = {"epoch": epoch, "epochs": 2, "val_top1": value, "val_top5": 99.0, "images_per_s": 500.0}
            assert record_epoch(session, job_id, row | {"seconds": 2.0})
        result: dict[str, Any] = {"val_top1": top1, "val_top5": 99.0, "best_val_top1": top1}
        if correct is not None:
            result["per_class"] = {"correct": correct, "total": [10, 10]}
            result["confusion"] = [[correct[0], 10 - correct[0]], [10 - correct[1], correct[1]]]
        assert finish(session, job_id, "succeeded", result=result)


def test_a_sweep_s_members_are_jobs_and_the_sweep_reads_them(any_api: Api) -> None:
    response = any_api.post("/v1/sweeps", json=sweep_body(teacher(any_api)))
    assert response.status_code == 201, response.text
    sweep = response.json()
    assert sweep["id"].startswith("swp_") and sweep["name"] == "beta study" and sweep["metadata"] == {"k": 1}
    assert sweep["status"] == "queued" and sweep["member_count"] == 6 and "Idempotent-Replayed" not in response.headers
    assert sweep["progress"] == {
        "epoch": 0,
        "epochs": 12,
        "fraction": 0.0,
        "members": {
            "queued": 6,
            "running": 0,
            "cancelling": 0,
            "succeeded": 0,
            "failed": 0,
            "cancelled": 0,
            "pruned": 0,
        },
    }
    assert sweep["request"]["grid"] == {"method": ["kd", "sd-kd"], "beta": [0.0, 2.0], "seed": [0, 1]}
    members = sweep["members"]
    assert [(m["spec"]["method"], m["spec"]["beta"], m["spec"]["seed"]) for m in members] == [
        ("kd", None, 0),  # beta shapes the SD methods only
        ("kd", None, 1),
        ("sd-kd", 0.0, 0),
        ("sd-kd", 0.0, 1),
        ("sd-kd", 2.0, 0),
        ("sd-kd", 2.0, 1),
    ]
    assert {m["sweep_id"] for m in members} == {sweep["id"]} and {m["status"] for m in members} == {"queued"}
    assert sorted(len(group["members"]) for group in sweep["groups"]) == [3, 3]  # one lockstep group per seed

    for member in members:  # each a normal job, with its own event
        job = any_api.get(f"/v1/jobs/{member['id']}").json()
        assert job == member
        assert [e["type"] for e in any_api.get(f"/v1/jobs/{member['id']}/events").json()["data"]] == ["queued"]
    listed = any_api.get("/v1/jobs", params={"sweep_id": sweep["id"], "limit": 100}).json()["data"]
    assert sorted(j["id"] for j in listed) == sorted(m["id"] for m in members)
    solo = any_api.get("/v1/jobs", params={"limit": 100}).json()["data"]
    assert [j["sweep_id"] for j in solo].count(None) == 1  # the teacher

    fetched = any_api.get(f"/v1/sweeps/{sweep['id']}")
    assert fetched.status_code == 200 and fetched.json() == sweep
    second = any_api.post("/v1/sweeps", json=sweep_body(teacher(any_api), grid={"seed": [5]})).json()
    page = any_api.get("/v1/sweeps", params={"limit": 1}).json()
    assert [s["id"] for s in page["data"]] == [second["id"]] and page["has_more"] is True
    assert "members" not in page["data"][0] and page["data"][0]["member_count"] == 1
    page = any_api.get("/v1/sweeps", params={"limit": 1, "after": second["id"]}).json()
    assert [s["id"] for s in page["data"]] == [sweep["id"]] and page["has_more"] is False


def test_every_member_is_validated_before_anything_is_stored(any_api: Api) -> None:
    teacher_id = teacher(any_api)
    before = counts(any_api)
    impossible = sweep_body(teacher_id, grid={"method": ["kd", "sd-kd"], "scales": [[1, 2], [1, 16]]})
    error = assert_error(any_api.post("/v1/sweeps", json=impossible), 422, "invalid_spec", "grid.scales")
    assert error["message"].startswith("member 3 of 3 (method sd-kd, scales [1, 16]): ")
    assert "8x8" in error["message"]
    assert counts(any_api) == before
    cases = [
        ({"seed": list(range(65))}, "limit_exceeded", "grid", "65 member jobs"),
        ({"lr": [0.1, 0.2]}, "validation_error", "grid.lr", "unknown field"),
        ({"seed": []}, "validation_error", "grid.seed", "at least one value"),
        ({"beta": [1, 1.0], "method": ["sd-kd"]}, "validation_error", "grid.beta", "twice"),
        ({"method": ["kd", "dkd"], "beta": [1, 2]}, "validation_error", "grid.beta", "scale-decoupled"),
        ({"method": ["kd", "sd-kdd"]}, "validation_error", "grid.method", "unknown method 'sd-kdd'; did you mean"),
    ]
    for grid, code, param, words in cases:
        error = assert_error(any_api.post("/v1/sweeps", json=sweep_body(teacher_id, grid=grid)), 422, code, param)
        assert words in error["message"], error
    missing = sweep_body("job_nope", grid={"seed": [0, 1]})
    assert_error(any_api.post("/v1/sweeps", json=missing), 404, "not_found", "base.teacher.job")
    theirs = sweep_body(teacher(any_api, any_api.other_token), grid={"seed": [0, 1]})
    assert_error(any_api.post("/v1/sweeps", json=theirs), 404, "not_found", "base.teacher.job")
    assert counts(any_api)[0] == 0


def test_beta_zero_for_sd_methods(any_api: Api) -> None:
    body = sweep_body(teacher(any_api), grid={"beta": [0, 1]}, method="sd-kd")
    sweep = any_api.post("/v1/sweeps", json=body).json()
    assert [m["spec"]["beta"] for m in sweep["members"]] == [0.0, 1.0]


def test_idempotency_key(any_api: Api) -> None:
    body, key = sweep_body(teacher(any_api)), {"Idempotency-Key": "sweep-1"}
    first = any_api.post("/v1/sweeps", json=body, headers=key)
    again = any_api.post("/v1/sweeps", json=body, headers=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["members"] == first.json()["members"]
    other = any_api.post("/v1/sweeps", json={**body, "name": "another"}, headers=key)
    assert_error(other, 409, "idempotency_conflict", "Idempotency-Key")
    assert counts(any_api) == (1, 1 + 6)


def test_idempotency_race_returns_the_winner(any_api: Api) -> None:
    body, key = sweep_body(teacher(any_api), grid={"seed": [0, 1]}), {"Idempotency-Key": "race"}
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: any_api.post("/v1/sweeps", json=body, headers=key), range(4)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert counts(any_api) == (1, 1 + 2)


def test_cancel_every_unfinished_member(any_api: Api) -> None:
    sweep = any_api.post("/v1/sweeps", json=sweep_body(teacher(any_api), grid={"seed": [0, 1, 2]})).json()
    done, running, waiting = (m["id"] for m in sweep["members"])
    play(any_api, done, 90.0)
    with any_api.session() as session:
        assert claim(session, running, "test-worker", 60)
    response = any_api.post(f"/v1/sweeps/{sweep['id']}/cancel")
    assert response.status_code == 202, response.text
    cancelled = response.json()
    assert [m["status"] for m in cancelled["members"]] == ["succeeded", "cancelling", "cancelled"]
    assert cancelled["status"] == "cancelling"
    with any_api.session() as session:
        assert finish(session, running, "succeeded")  # the worker stops at its next batch: cancelled
    assert any_api.get(f"/v1/sweeps/{sweep['id']}").json()["status"] == "cancelled"
    assert_error(any_api.post(f"/v1/sweeps/{sweep['id']}/cancel"), 409, "sweep_finished", None)


def test_the_report_as_json_markdown_and_curves(any_api: Api) -> None:
    grid = {"method": ["kd", "sd-kd"], "seed": [0, 1, 2]}
    sweep = any_api.post("/v1/sweeps", json=sweep_body(teacher(any_api), grid=grid)).json()
    kd, sd = sweep["members"][:3], sweep["members"][3:]
    for member, top1 in zip(kd, (90.0, 91.0, 92.0), strict=True):
        play(any_api, member["id"], top1, correct=[9, 8])
    for member, top1 in zip(sd, (91.5, 92.0, 94.0), strict=True):
        play(any_api, member["id"], top1, correct=[10, 9])

    report = any_api.get(f"/v1/sweeps/{sweep['id']}/report")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["sweep_id"] == sweep["id"] and body["status"] == "succeeded" and body["members"] == {"succeeded": 6}
    labels = [c["label"] for c in body["configurations"]]
    assert labels == ["kd", "sd-kd, β 2, scales [1, 2, 4]"]
    gain = body["configurations"][1]["gain"]
    assert gain["mean"] == pytest.approx(1.5) and gain["n"] == 3 and gain["half_width"] == pytest.approx(1.2421, 1e-3)
    recommendation = body["recommendation"]
    assert recommendation["text"] == "sd-kd, β 2, scales [1, 2, 4]: +1.50 ± 1.24 over kd on val, 3 seeds"
    assert (recommendation["correction"], recommendation["family_size"]) == ("Holm–Bonferroni", 1)
    assert (recommendation["protocol"], recommendation["reported_on"]) == ("held_out", "val")  # no test top-1 played
    assert gain["adjusted_alpha"] == 0.05 and gain["beats_baseline"] and gain["split"] == "val"
    assert [(g["name"], g["gain"]) for g in body["per_class"]["gains"]] == [("0", 10.0), ("1", 10.0)]
    assert body["confusion"]["job_id"] == sd[2]["id"] and body["confusion"]["matrix"] == [[10, 0], [1, 9]]

    markdown = any_api.get(f"/v1/sweeps/{sweep['id']}/report", params={"format": "markdown"})
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
    assert "**Recommendation:** sd-kd, β 2, scales [1, 2, 4]: +1.50 ± 1.24 over kd on val, 3 seeds" in markdown.text
    assert "Holm–Bonferroni correction, family of 1 configuration_" in markdown.text
    svg = any_api.get(f"/v1/sweeps/{sweep['id']}/report/curves.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert b"sd-kd, \xce\xb2 2, scales [1, 2, 4] \xc2\xb7 seed 2" in svg.content and b"<script" not in svg.content
    png = any_api.get(f"/v1/sweeps/{sweep['id']}/report/curves.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_another_tenant_s_sweep_is_not_found(api: Api) -> None:
    sweep = api.post("/v1/sweeps", json=sweep_body(teacher(api), grid={"seed": [0, 1]})).json()
    other = api.other_token
    for path in ("", "/report", "/report/curves.svg", "/report/curves.png"):
        assert_error(api.get(f"/v1/sweeps/{sweep['id']}{path}", token=other), 404, "not_found")
    assert_error(api.post(f"/v1/sweeps/{sweep['id']}/cancel", token=other), 404, "not_found")
    assert api.get("/v1/sweeps", token=other).json()["data"] == []
    assert api.get("/v1/jobs", token=other, params={"sweep_id": sweep["id"]}).json()["data"] == []
    assert_error(api.get("/v1/sweeps", params={"after": "swp_nope"}), 422, param="after")
    assert_error(api.get(f"/v1/sweeps/{sweep['id']}/report", params={"format": "pdf"}), 422, param="format")


def test_the_in_flight_limit_counts_members(sdd_env, sqlite_template) -> None:
    for limited in make_api(sqlite_settings(sdd_env, sqlite_template, max_jobs_in_flight=4)):
        assert limited.get("/v1/catalog").json()["limits"]["max_sweep_size"] == 64
        body = sweep_body(teacher(limited), grid={"seed": [0, 1, 2]})
        assert limited.post("/v1/sweeps", json=body).status_code == 201  # 3 of 4
        error = assert_error(limited.post("/v1/sweeps", json=body), 429, "too_many_jobs", None)
        assert "you have 3 jobs" in error["message"] and "adds 3" in error["message"]
        assert limited.post_job().status_code == 201  # 4 of 4
