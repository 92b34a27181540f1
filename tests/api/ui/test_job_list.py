"""The dashboard's job list: names first with the id under them, short teachers, filters for status, tag, name, sweep."""

from __future__ import annotations

import re

import pytest

from api.ui import job_views
from tests.api.conftest import Api
from tests.api.ui.test_pages import Browser
from tests.api.ui.test_sweep_pages import kd_vs_sd_sweep


def listed_ids(html: str) -> list[str]:
    """The job ids of the list's rows, in order."""
    return re.findall(r'<tr data-job-id="([^"]+)"', html)


def job_cell(html: str, job_id: str) -> str:
    row = re.search(rf'<tr data-job-id="{job_id}".*?<td class="job-cell">(.*?)</td>', html, re.S)
    assert row is not None, job_id
    return row.group(1)


def test_a_named_job_shows_its_name_first_and_its_id_under_it(api: Api, alice: Browser) -> None:
    named = api.create_job(name="kd baseline", tags=["digits"])
    unnamed = api.create_job(seed=3)
    html = alice.get("/ui").text

    cell = job_cell(html, named["id"])
    name_at, id_at = cell.index('<span class="job-name">kd baseline</span>'), cell.index(named["id"] + "</code>")
    assert name_at < id_at  # the name first, the id after it
    assert f'<code class="job-id">{named["id"]}</code>' in cell
    assert '<a class="tag" href="/ui?tag=digits">digits</a>' in cell
    # An unnamed job is labelled by its id, once, as the link.
    unnamed_cell = job_cell(html, unnamed["id"])
    assert f'title="{unnamed["id"]}"><code class="job-id">{unnamed["id"]}</code></a>' in unnamed_cell
    assert unnamed_cell.count("<code") == 1  # not repeated under itself
    assert '<th scope="col">Created</th>' in html


def test_the_teacher_column_shows_the_teachers_name_or_a_short_id(api: Api, alice: Browser) -> None:
    named_teacher = api.create_job(name="resnet teacher")
    plain_teacher = api.create_job(seed=5)
    for teacher in (named_teacher, plain_teacher):
        api.succeed_job(teacher["id"])
    by_name = api.create_job(method="kd", teacher={"job": named_teacher["id"]})
    by_id = api.create_job(method="kd", teacher={"job": plain_teacher["id"]})
    html = alice.get("/ui").text

    def teacher_cell(job_id: str) -> str:
        found = re.search(rf'<tr data-job-id="{job_id}".*?<td class="teacher-cell">(.*?)</td>', html, re.S)
        assert found is not None
        return found.group(1)

    link = f'<a href="/ui/jobs/{named_teacher["id"]}" title="{named_teacher["id"]}">resnet teacher</a>'
    assert teacher_cell(by_name["id"]) == link
    short = plain_teacher["id"][:12] + "…"
    assert len(plain_teacher["id"]) == 28
    assert teacher_cell(by_id["id"]) == (
        f'<a href="/ui/jobs/{plain_teacher["id"]}" title="{plain_teacher["id"]}"><code>{short}</code></a>'
    )


def test_filters_for_tag_name_and_sweep_narrow_the_rows_and_keep_their_values(api: Api, alice: Browser) -> None:
    baseline = api.create_job(name="KD Baseline", tags=["lr", "digits"])
    sharp = api.create_job(name="sharp baseline", tags=["lr"])
    other = api.create_job(name="warm start", tags=["digits"])
    sweep = kd_vs_sd_sweep(api)
    members = [job["id"] for job in api.get(f"/v1/jobs?sweep_id={sweep['id']}").json()["data"]]
    assert len(members) == 4

    by_tag = alice.get("/ui?tag=lr").text
    assert set(listed_ids(by_tag)) == {baseline["id"], sharp["id"]}
    by_name = alice.get("/ui?name=BASELINE").text  # a part of the name, any case
    assert set(listed_ids(by_name)) == {baseline["id"], sharp["id"]}
    assert 'id="name-filter" name="name" value="BASELINE"' in by_name
    both = alice.get("/ui?tag=digits&name=baseline").text
    assert listed_ids(both) == [baseline["id"]]
    assert 'name="tag" value="digits"' in both and 'id="clear-filters" href="/ui"' in both
    by_sweep = alice.get(f"/ui?sweep_id={sweep['id']}").text
    assert sorted(listed_ids(by_sweep)) == sorted(members)
    assert f'name="sweep_id" value="{sweep["id"]}"' in by_sweep
    assert other["id"] not in by_sweep

    # The same rows as GET /v1/jobs with the same filters (one query behind both).
    api_rows = api.get("/v1/jobs", params={"tag": "digits", "name": "baseline"}).json()["data"]
    assert [job["id"] for job in api_rows] == listed_ids(both)

    none = alice.get("/ui?name=nothing+like+this").text
    assert listed_ids(none) == [] and 'id="no-matches"' in none and "Clear filters" in none
    blank = alice.get("/ui?status=&tag=&name=+&sweep_id=").text  # the form sent with empty fields: every job
    assert len(listed_ids(blank)) == 3 + 1 + 4  # ours, the sweep's teacher, its members
    assert 'id="clear-filters"' not in blank

    refused = alice.get("/ui?sweep_id=my-sweep")
    assert refused.status_code == 422 and "swp_ and 24 hex digits" in refused.text


def test_older_pages_and_the_live_json_keep_the_filters(
    api: Api, alice: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagged = [api.create_job(name=f"run {i}", tags=["many"]) for i in range(3)]
    api.create_job(name="run untagged")
    live = alice.get("/ui/jobs.json?tag=many&name=RUN").json()["data"]
    assert [job["id"] for job in live] == [job["id"] for job in reversed(tagged)]

    monkeypatch.setattr(job_views, "LIST_PAGE_SIZE", 2)  # pages of two rows, so that an older page exists
    html = alice.get("/ui?tag=many&name=run").text
    older = re.search(r'<a href="([^"]+)">Older jobs', html)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert link == f"/ui?tag=many&name=run&after={tagged[1]['id']}"
    assert listed_ids(alice.get(link).text) == [tagged[0]["id"]]
