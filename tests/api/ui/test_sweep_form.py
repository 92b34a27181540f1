"""The sweep form at /ui/sweeps/new: the member count it shows is the sweep it submits (through
``submit_sweep``, as ``POST /v1/sweeps``), each refusal is shown beside the input it names with the
values kept, and the estimate counts every member's epochs from the measured speeds."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from api.ui.sweep_estimate import sweep_estimate
from domain.jobs.speed_estimates import DatasetSize, MeasuredSpeed, SpeedMeasurements
from service.db.models import Sweep
from tests.api.conftest import Api, make_api, sqlite_settings
from tests.api.ui.test_clone_and_estimate import record_epochs
from tests.api.ui.test_job_form_defaults import text_of
from tests.api.ui.test_pages import Browser, browser_for, form_values

FORM = "/ui/sweeps/new"


def checked_boxes(html: str) -> set[str]:
    """The names of the ticked checkboxes of a page."""
    return set(re.findall(r'<input type="checkbox" [^>]*name="([^"]+)" value="on" checked>', html))


def teacher_job(api: Api) -> str:
    job = api.create_job(name="teacher", student="resnet20", hyperparameters={"epochs": 1})
    api.succeed_job(job["id"], result={"val_top1": 90.0})
    return str(job["id"])


def sweep_form(teacher_id: str, **changes: str) -> dict[str, str]:
    """A form as a person fills it in: KD against SD-KD for two β and two seeds, 1 epoch, ``changes`` over it."""
    fields = {
        "dataset": "digits",
        "teacher": f"job:{teacher_id}",
        "init": "scratch",
        "hyperparameters.epochs": "1",
        "hyperparameters.batch_size": "64",
        "image_size": "",
        "method:kd": "on",
        "method:sd-kd": "on",
        "student:resnet8": "on",
        "beta": "1, 2",
        "temperature": "",
        "scales": "",
        "seed": "0, 1",
        "name": "beta study",
        "idempotency_key": "form-1",
    }
    return {**fields, **changes}


def sweep_count(api: Api) -> int:
    with api.session() as session:
        return int(session.scalar(select(func.count()).select_from(Sweep)) or 0)


def test_the_form_creates_the_sweep_it_counted(api: Api, alice: Browser) -> None:
    teacher = teacher_job(api)
    html = alice.get(FORM).text
    assert text_of(html, "member-count") == "2 jobs (at most 64 per sweep here)"  # kd and sd-kd, seed 0
    assert checked_boxes(html) == {"method:kd", "method:sd-kd", "student:resnet8"}
    assert form_values(html)["hyperparameters.epochs"] == "240" and 'value="" selected' in html  # no teacher chosen
    assert 'href="/ui/sweeps/new">New sweep</a>' in html  # in the nav

    form = sweep_form(teacher)
    preview = alice.client.get(f"{FORM}/preview", params=form).json()
    assert preview["members"] == 6  # 2 seeds of kd (β shapes SD methods only), 2 β × 2 seeds of sd-kd
    response = alice.post(FORM, form)
    assert response.status_code == 303, response.text
    sweep_id = response.headers["location"].removeprefix("/ui/sweeps/")
    sweep = api.get(f"/v1/sweeps/{sweep_id}").json()
    assert len(sweep["members"]) == 6
    grid = {"method": ["kd", "sd-kd"], "student": ["resnet8"], "beta": [1.0, 2.0], "seed": [0, 1]}
    assert sweep["request"]["grid"] == grid
    base = sweep["request"]["base"]
    assert (base["method"], base["student"], base["teacher"]) == ("kd", "resnet8", {"job": teacher})
    assert {m["spec"]["hyperparameters"]["epochs"] for m in sweep["members"]} == {1}
    assert "beta study sd-kd resnet8 β=2.0 seed 1" in {m["name"] for m in sweep["members"]}
    assert alice.get(response.headers["location"]).status_code == 200

    again = alice.post(FORM, form)  # the same form sent twice (double click, reload): the same sweep
    assert again.headers["location"] == response.headers["location"] and sweep_count(api) == 1


def test_a_bad_beta_list_is_shown_beside_beta_with_the_values_kept(api: Api, alice: Browser) -> None:
    teacher = teacher_job(api)
    response = alice.post(FORM, sweep_form(teacher, beta="1, -2", seed="3, 4, 5"))
    assert response.status_code == 422
    html = response.text
    assert text_of(html, "f-beta-error") == "grid.beta[1]: Input should be greater than or equal to 0"
    assert 'id="f-beta" name="beta" aria-invalid="true"' in html
    assert form_values(html)["beta"] == "1, -2" and form_values(html)["seed"] == "3, 4, 5"
    assert checked_boxes(html) == {"method:kd", "method:sd-kd", "student:resnet8"}
    assert text_of(html, "member-count").startswith("not known yet: grid.beta[1]")
    assert sweep_count(api) == 0

    fixed = alice.post(FORM, sweep_form(teacher, beta="2", seed="3, 4, 5"))  # one β: the SD-KD members'
    assert fixed.status_code == 303, fixed.text
    sweep = api.get(f"/v1/sweeps/{fixed.headers['location'].rsplit('/', 1)[1]}").json()
    assert len(sweep["members"]) == 6
    assert sweep["request"]["grid"]["beta"] == [2.0]
    assert {m["spec"]["beta"] for m in sweep["members"] if m["spec"]["method"] == "sd-kd"} == {2.0}


def test_refusals_of_the_submission_are_shown_beside_their_fields(api: Api, alice: Browser) -> None:
    teacher = teacher_job(api)
    cases = {
        "f-teacher-error": {"teacher": "job:job_0000nope"},  # ("base", "teacher", "job"), from submit_sweep
        "f-hyperparameters-epochs-error": {"hyperparameters.epochs": "100000"},  # over the service's limit
        "f-method-error": {"method:kd": "", "method:sd-kd": ""},  # no method ticked
        "f-scales-error": {"scales": "1,2 ; 1,x"},
        "f-beta-error": {"method:sd-kd": ""},  # β shapes no member of a KD-only sweep
    }
    for error_id, changes in cases.items():
        html = alice.post(FORM, sweep_form(teacher, **changes)).text
        assert text_of(html, error_id), (error_id, re.findall(r'class="field-error"[^>]*>([^<]*)', html))
    unread = alice.post(FORM, sweep_form(teacher, scales="1,2 ; 1,x")).text
    assert text_of(unread, "member-count") == f"not known yet: {text_of(unread, 'f-scales-error')}"
    assert sweep_count(api) == 0


def test_a_sweep_over_the_size_limit_is_refused_as_the_api_refuses_it(sdd_env, sqlite_template) -> None:
    for small in make_api(sqlite_settings(sdd_env, sqlite_template, max_sweep_size=4)):
        browser = browser_for(small, small.token)
        form = sweep_form(teacher_job(small))  # 6 members
        assert browser.client.get(f"{FORM}/preview", params=form).json()["over_limit"] is True
        error = text_of(browser.post(FORM, form).text, "f-grid-error") or ""
        assert "6 member jobs, over this service's limit of 4 per sweep (SDD_MAX_SWEEP_SIZE)" in error
        browser.client.close()


def test_the_preview_counts_every_members_epochs_and_warns_of_a_long_sweep(api: Api, alice: Browser) -> None:
    teacher = teacher_job(api)
    kd = api.create_job(method="kd", teacher={"job": teacher})
    record_epochs(api, kd["id"], [35.0], [40.0])  # distilled resnet8 on digits: 35 s an epoch
    preview = alice.client.get(f"{FORM}/preview", params=sweep_form(teacher, **{"hyperparameters.epochs": "240"}))
    answer = preview.json()
    assert answer["estimate"] == "≈ 14 h on this service for 6 jobs × 240 epochs (measured over 1 epoch of 1 job)"
    assert answer["warning"].startswith("A long sweep: about 14 h of training for 6 jobs × 240 epochs.")
    assert answer["button"] == "Start a ~14 h sweep of 6 jobs"
    assert preview.headers["cache-control"] == "no-store"

    short = alice.client.get(f"{FORM}/preview", params=sweep_form(teacher, **{"method:ce": "on"})).json()
    assert short["members"] == 8  # + 2 seeds of ce, not measured here yet
    assert short["estimate"] == "no measurement yet for resnet8 on digits (2 of its 8 jobs)"
    assert short["warning"] is None and short["button"] == "Start 8 jobs × 1 epoch"

    stranger = browser_for(api, None)
    assert stranger.client.get(f"{FORM}/preview", params=sweep_form(teacher)).status_code == 401
    stranger.client.close()


def test_the_estimate_sums_each_kind_of_member() -> None:
    def speed(student: str, seconds: float) -> MeasuredSpeed:
        return MeasuredSpeed("digits", 8, student, True, seconds, 100.0, 5, 2)

    measured = SpeedMeasurements([speed("resnet8", 2.0), speed("resnet20", 6.0)], [])
    sizes = {"digits": DatasetSize("digits", 1437, 8)}
    values: dict[str, Any] = {"dataset": "digits", "hyperparameters.epochs": "10"}
    kinds = {("kd", "resnet8"): 2, ("sd-kd", "resnet8"): 4, ("kd", "resnet20"): 1}
    estimate = sweep_estimate(measured, sizes, values, kinds)
    assert estimate.seconds == 10 * (6 * 2.0 + 6.0)
    assert estimate.text == "≈ 3 min on this service for 7 jobs × 10 epochs (measured over 5 epochs of 2 jobs)"
    assert estimate.warning is None and estimate.button == "Start a ~3 min sweep of 7 jobs"


def test_the_form_needs_a_signed_in_browser_and_its_own_csrf_field(api: Api, alice: Browser) -> None:
    teacher = teacher_job(api)
    stranger = browser_for(api, None)
    assert stranger.get(FORM).headers["location"] == "/ui/login?next=/ui/sweeps/new"
    stranger.client.close()
    assert alice.post(FORM, sweep_form(teacher), csrf=False).status_code == 403
    assert sweep_count(api) == 0
    listed = alice.get("/ui/sweeps").text
    assert 'id="new-sweep"' in listed and 'href="/ui/sweeps/new"' in listed


def test_a_built_in_dataset_not_on_this_server_cannot_be_chosen_for_a_sweep(api: Api, alice: Browser) -> None:
    import re

    html = alice.get("/ui/sweeps/new").text
    assert re.findall(r'<option value="([^"]*)"[^>]*\bdisabled\b', html) == ["cifar10", "cifar100"]
    assert "cifar10, cifar100 are not on this server" in html and "SDD_ALLOW_DOWNLOAD=true" in html
