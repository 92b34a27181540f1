"""Job names and tags over HTTP: stored, shown, filtered on (on SQLite and PostgreSQL)."""

from __future__ import annotations

from domain.jobs.job_request import TAGS_MAX
from tests.api.conftest import Api, assert_error
from tests.api.test_sweeps import sweep_body, teacher


def _ids(api: Api, **params: object) -> list[str]:
    response = api.get("/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["data"]]


def test_name_and_tags_are_stored_normalised_and_read_back(any_api: Api) -> None:
    job = any_api.create_job(name="  baseline β=2  ", tags=["digits", "a:b", "digits", "A.1_x-y"])
    assert job["name"] == "baseline β=2"
    assert job["tags"] == ["A.1_x-y", "a:b", "digits"]  # once each, sorted
    assert "name" not in job["spec"] and "tags" not in job["spec"]
    assert any_api.get(f"/v1/jobs/{job['id']}").json() == job

    plain = any_api.create_job()
    assert plain["name"] is None and plain["tags"] == []


def test_list_filters_by_every_tag_and_by_name(any_api: Api) -> None:
    both = any_api.create_job(name="Beta sweep 1", tags=["beta", "digits"])["id"]
    beta = any_api.create_job(name="beta sweep 2", tags=["beta"])["id"]
    other = any_api.create_job(name="kd 100%_done", tags=["digits"])["id"]
    unnamed = any_api.create_job()["id"]
    any_api.create_job(token=any_api.other_token, name="beta sweep 3", tags=["beta"])

    assert _ids(any_api, tag="beta") == [beta, both]
    assert _ids(any_api, tag=["beta", "digits"]) == [both]
    assert _ids(any_api, tag="nope") == []
    assert _ids(any_api, name="BETA SWEEP") == [beta, both]  # a substring, ignoring case
    assert _ids(any_api, name="%_") == [other]  # LIKE wildcards are plain text
    assert _ids(any_api, name="sweep", tag="digits") == [both]
    assert _ids(any_api) == [unnamed, other, beta, both]
    assert _ids(any_api, tag="beta", limit=1, after=beta) == [both]


def test_bad_names_and_tags_are_refused_naming_the_field(api: Api) -> None:
    for name in ("", "   ", "x" * 101, "two\nlines", "tab\there"):
        assert_error(api.post_job(name=name), 422, "validation_error", "name")
    for tags in (["has space"], ["x" * 41], [""], ["é"], [f"t{i}" for i in range(17)]):
        assert_error(api.post_job(tags=tags), 422, "validation_error", "tags")
    assert_error(api.get("/v1/jobs", params={"tag": "x" * 41}), 422, param="tag[0]")


def test_sweep_members_are_named_after_the_sweep(any_api: Api) -> None:
    body = sweep_body(teacher(any_api), grid={"beta": [1.0, 4.0], "seed": [0, 1]}, method="sd-kd", tags=["grid"])
    response = any_api.post("/v1/sweeps", json={**body, "name": "betas"})
    assert response.status_code == 201, response.text
    sweep_id = response.json()["id"]
    members = any_api.get("/v1/jobs", params={"sweep_id": sweep_id}).json()["data"]
    assert sorted(job["name"] for job in members) == [
        "betas β=1.0 seed 0",
        "betas β=1.0 seed 1",
        "betas β=4.0 seed 0",
        "betas β=4.0 seed 1",
    ]
    assert {tuple(job["tags"]) for job in members} == {("grid",)}
    assert sorted(_ids(any_api, tag="grid")) == sorted(job["id"] for job in members)

    unnamed_body = {**sweep_body(teacher(any_api), grid={"seed": [0, 1]}), "name": None}
    unnamed = any_api.post("/v1/sweeps", json=unnamed_body).json()
    names = {job["name"] for job in any_api.get("/v1/jobs", params={"sweep_id": unnamed["id"]}).json()["data"]}
    assert names == {None}


def test_a_list_filter_of_more_tags_than_a_job_can_carry_is_a_422(any_api: Api) -> None:
    """1,000 tag= parameters once built an SQL expression too large for the database: a 503."""
    query = "&".join(f"tag=t{i}" for i in range(TAGS_MAX + 1))
    assert_error(any_api.get(f"/v1/jobs?{query}"), 422, "validation_error", "tag")
    query = "&".join(f"tag=t{i}" for i in range(1000))
    assert_error(any_api.get(f"/v1/jobs?{query}"), 422, "validation_error", "tag")
    assert any_api.get("/v1/jobs?" + "&".join(f"tag=t{i}" for i in range(TAGS_MAX))).status_code == 200
