"""The job form filled in from a job to clone (``/ui/submit?from=JOB_ID``), and the training time it
estimates from the speeds the catalog lists (``measured_speeds``), measured on recorded epochs."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html import unescape
from typing import Any

import pytest
from sqlalchemy import update

from api.ui.submit_estimate import humane_duration
from api.ui.submit_form import FormChoices, clone_values
from domain.jobs.cloning import JobCopy
from domain.jobs.transitions import record_epoch
from service.db.models import Job
from tests.api.conftest import Api
from tests.api.ui.job_records import add_dataset, metrics_row
from tests.api.ui.test_pages import CSRF, Browser, form_values
from tests.fixtures.weights_caches import write_timm_weights

DIGITS_TRAIN_IMAGES = 1437  # sklearn's 1797 digits less the validation fifth


def selected(html: str) -> dict[str, str]:
    """name -> the selected option's value, of each select of a page."""
    found = {}
    for name, options in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        choice = re.search(r'<option value="([^"]*)" selected>', options)
        found[name] = choice.group(1) if choice else ""
    return found


def textarea(html: str, name: str) -> str:
    found = re.search(rf'<textarea [^>]*name="{re.escape(name)}"[^>]*>(.*?)</textarea>', html, re.S)
    assert found is not None, name
    return found.group(1)


def estimate_of(html: str) -> str:
    found = re.search(r'<span id="estimate-text">(.*?)</span>', html, re.S)
    assert found is not None
    return unescape(found.group(1))


def page_form(html: str) -> dict[str, str]:
    """Every field the form would post as shown (inputs, selects, the metadata), without the CSRF field."""
    values = form_values(html) | selected(html) | {"metadata": unescape(textarea(html, "metadata"))}
    values.pop(CSRF)
    return values


def record_epochs(api: Api, job_id: str, seconds: Sequence[float], images_per_s: Sequence[float]) -> None:
    """Record one finished epoch per value, as a worker would (``seconds`` and images/s as given)."""
    with api.session() as session:
        for epoch, (wall, rate) in enumerate(zip(seconds, images_per_s, strict=True), start=1):
            row = metrics_row(epoch, len(seconds)) | {"seconds": wall, "images_per_s": rate}
            assert record_epoch(session, job_id, row)


def cloned_source(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """(teacher, job): a succeeded teacher and an SD-KD job of it with a name, tags, metadata and
    a few values of its own (a 20-epoch run: the service fitted the lr milestones to it)."""
    teacher = api.create_job(hyperparameters={"epochs": 1})
    api.succeed_job(teacher["id"])
    job = api.create_job(
        method="sd-kd",
        teacher={"job": teacher["id"]},
        scales=[1, 2],
        beta=3.0,
        seed=5,
        image_size=16,
        metadata={"experiment": "a1 <b>"},
        name="baseline",
        tags=["digits", "lr"],
        hyperparameters={"epochs": 20, "lr": 0.02, "batch_size": 32},
    )
    assert job["spec"]["hyperparameters"]["lr_decay_epochs"] == [12, 15, 18]
    return teacher, job


# ---------------------------------------------------------------- clone


def test_the_job_page_links_to_the_form_filled_in_from_the_job(api: Api, alice: Browser) -> None:
    job = api.create_job()
    html = alice.get(f"/ui/jobs/{job['id']}").text
    assert f'id="clone-button" href="/ui/submit?from={job["id"]}"' in html


def test_the_clone_form_is_filled_in_from_the_jobs_spec(api: Api, alice: Browser) -> None:
    teacher, job = cloned_source(api)
    page = alice.get(f"/ui/submit?from={job['id']}")
    assert page.status_code == 200
    html = page.text
    assert re.search(rf'id="cloning"[^>]*>Cloning <a href="/ui/jobs/{job["id"]}">baseline</a>', html)
    chosen = selected(html)
    assert [chosen[name] for name in ("dataset", "student", "method", "teacher")] == [
        "digits",
        "resnet8",
        "sd-kd",
        f"job:{teacher['id']}",
    ]
    values = form_values(html)
    assert values["from"] == job["id"]
    assert (values["scales"], values["beta"], values["seed"], values["image_size"]) == ("1, 2", "3.0", "5", "16")
    assert (values["name"], values["tags"]) == ("baseline (copy)", "digits, lr")
    hyper = {name.removeprefix("hyperparameters."): v for name, v in values.items() if name.startswith("hyper")}
    assert (hyper["epochs"], hyper["lr"], hyper["batch_size"]) == ("20", "0.02", "32")
    # Left to the service by the source (fitted to its 20 epochs), left to it again: shown as pre-filled.
    assert (hyper["lr_decay_epochs"], hyper["ce_weight"], hyper["kd_weight"]) == ("150, 180, 210", "0.1", "0.9")
    assert json.loads(unescape(textarea(html, "metadata"))) == {"experiment": "a1 <b>"}


def test_a_clone_leaves_the_datasets_own_image_size_to_the_dataset(api: Api, alice: Browser) -> None:
    job = api.create_job()  # no name, no image size: digits at its own 32 px
    assert job["spec"]["image_size"] == 32
    html = alice.get(f"/ui/submit?from={job['id']}").text
    assert f'Cloning <a href="/ui/jobs/{job["id"]}"><code>{job["id"]}</code></a>' in html
    values = form_values(html)
    assert (values["image_size"], values["name"], values["tags"]) == ("", "", "")
    assert selected(html)["teacher"] == "" and selected(html)["method"] == "ce"


@pytest.mark.parametrize("which", ["foreign", "unknown", "garbage"])
def test_cloning_a_job_that_is_not_yours_shows_the_form_and_says_why(
    api: Api, bob: Browser, alice: Browser, which: str
) -> None:
    _, job = cloned_source(api)  # alice's
    job_id = {"foreign": job["id"], "unknown": "job_missing", "garbage": "x" * 500 + "<script>"}[which]
    page = bob.get(f"/ui/submit?from={job_id}")
    assert page.status_code == 404
    html = page.text
    assert re.search(r'id="clone-error">.*no job with id .*the form starts from the defaults', html, re.S)
    assert 'id="submit-job"' in html and 'id="cloning"' not in html and 'name="from"' not in html
    assert "baseline" not in html and "a1 &lt;b&gt;" not in html and "<script>" not in html
    assert form_values(html)["seed"] == "0"  # the defaults


def test_submitting_a_cloned_form_makes_a_new_job_with_the_change(api: Api, alice: Browser) -> None:
    _, source = cloned_source(api)
    form = page_form(alice.get(f"/ui/submit?from={source['id']}").text)
    refused = alice.post("/ui/submit", form | {"beta": "-1"})  # shown again: still cloning
    assert refused.status_code == 422 and 'id="cloning"' in refused.text and 'name="from"' in refused.text

    response = alice.post("/ui/submit", form | {"seed": "9", "hyperparameters.epochs": "40"})
    assert response.status_code == 303, response.text
    copy = api.get(f"/v1/jobs/{response.headers['location'].removeprefix('/ui/jobs/')}").json()
    assert copy["id"] != source["id"] and copy["status"] == "queued"
    assert (copy["name"], copy["tags"], copy["metadata"]) == ("baseline (copy)", ["digits", "lr"], source["metadata"])
    hyper = copy["spec"]["hyperparameters"]
    assert hyper["epochs"] == 40 and hyper["lr_decay_epochs"] == [25, 30, 35]  # the defaults follow the new epochs
    expected = source["spec"] | {"seed": 9}
    expected["hyperparameters"] = source["spec"]["hyperparameters"] | {"epochs": 40, "lr_decay_epochs": [25, 30, 35]}
    assert copy["spec"] == expected

    unchanged = alice.post("/ui/submit", page_form(alice.get(f"/ui/submit?from={source['id']}").text))
    again = api.get(f"/v1/jobs/{unchanged.headers['location'].removeprefix('/ui/jobs/')}").json()
    assert again["spec"] == source["spec"]  # submitted as shown: the source's spec exactly


def test_the_form_sends_no_scales_or_beta_for_a_method_that_is_not_scale_decoupled(api: Api, alice: Browser) -> None:
    teacher = api.create_job(hyperparameters={"epochs": 1})
    api.succeed_job(teacher["id"])
    form = page_form(alice.get("/ui/submit").text)
    assert (form["scales"], form["beta"]) == ("1, 2, 4", "2.0")  # pre-filled: what the SD methods default to
    kd = form | {"method": "kd", "teacher": f"job:{teacher['id']}", "hyperparameters.epochs": "2"}
    refused = alice.post("/ui/submit", kd | {"beta": "4"})  # one typed in is refused, next to its field
    assert refused.status_code == 422
    assert '<a href="#f-beta">beta: shapes only the scale-decoupled methods' in unescape(refused.text)
    response = alice.post("/ui/submit", kd)  # the pre-filled values are no request of a kd job
    assert response.status_code == 303, response.text
    job = api.get(f"/v1/jobs/{response.headers['location'].removeprefix('/ui/jobs/')}").json()
    assert (job["spec"]["method"], job["spec"]["scales"], job["spec"]["beta"]) == ("kd", None, None)


def test_a_clone_of_a_job_stored_with_scales_and_beta_it_never_used_leaves_them_out(api: Api, alice: Browser) -> None:
    teacher = api.create_job(hyperparameters={"epochs": 1})
    api.succeed_job(teacher["id"])
    job = api.create_job(method="kd", teacher={"job": teacher["id"]}, hyperparameters={"epochs": 2})
    with api.session() as session:  # as a kd job was stored (and its request kept) before they were refused
        row = session.get(Job, job["id"])
        assert row is not None
        row.spec = {**row.spec, "scales": [1, 2, 4], "beta": 4.0}
        row.request = {**row.request, "scales": [1, 2, 4], "beta": 4.0}
        session.commit()
    shown = api.get(f"/v1/jobs/{job['id']}").json()
    assert shown["spec"]["beta"] == 4.0  # it still loads, as stored
    form = page_form(alice.get(f"/ui/submit?from={job['id']}").text)
    assert (form["scales"], form["beta"]) == ("", "")
    response = alice.post("/ui/submit", form)
    assert response.status_code == 303, response.text
    copy = api.get(f"/v1/jobs/{response.headers['location'].removeprefix('/ui/jobs/')}").json()
    assert (copy["spec"]["scales"], copy["spec"]["beta"]) == (None, None)


def test_a_clone_says_which_of_its_fields_the_form_cannot_show() -> None:
    request = {
        "dataset": "digits",
        "student": "resnet8",
        "method": "kd",
        "teacher": {"arch": "tv/resnet18", "pretrained": True},
        "init": {"model": "mdl_x"},
        "hyperparameters": {"lr": 0.1, "newer_knob": 3},
    }
    values, unshown = clone_values(JobCopy(source=Job(id="job_x", name="n" * 100), request=request))
    assert unshown == ["hyperparameters.newer_knob"]
    assert (values["teacher"], values["init"]) == ("pretrained:tv/resnet18", "model:mdl_x")
    assert (values["hyperparameters.lr"], values["name"]) == ("0.1", "n" * 93 + " (copy)")
    assert "hyperparameters.newer_knob" not in values


def test_the_clone_form_offers_pretrained_teachers_and_warm_starts(api: Api, alice: Browser, weights_caches) -> None:
    write_timm_weights(weights_caches.hf_hub, "timm/test_resnet")
    source = api.create_job(student="timm/test_resnet", init="pretrained", image_size=32)
    with api.session() as session:  # as a job on a 1000-class dataset would store it
        row = session.get(Job, source["id"])
        assert row is not None
        pretrained_teacher = {"method": "kd", "teacher": {"arch": "timm/test_resnet", "pretrained": True}}
        row.spec, row.request = row.spec | pretrained_teacher, row.request | pretrained_teacher
        session.commit()
    html = alice.get(f"/ui/submit?from={source['id']}").text
    assert selected(html)["teacher"] == "pretrained:timm/test_resnet" and selected(html)["init"] == "pretrained"
    assert 'id="clone-unshown"' not in html


def test_a_value_the_lists_leave_out_is_still_offered() -> None:
    choices = FormChoices(
        datasets=[("digits", "digits")], students=["resnet8"], methods=[], teachers=[("", "none")], inits=[]
    )
    offered = choices.offering({"dataset": "ds_old", "teacher": "job:old"})
    assert offered.datasets == [("digits", "digits"), ("ds_old", "ds_old")]
    assert offered.teachers == [("", "none"), ("job:old", "job:old")]
    assert choices.offering({"dataset": "digits", "teacher": ""}) == choices


# ---------------------------------------------------------------- measured speeds and the estimate


def test_the_catalog_lists_median_speeds_of_recorded_epochs(any_api: Api) -> None:
    api = any_api  # the JSON paths of the query, on SQLite and PostgreSQL
    plain = api.create_job()
    record_epochs(api, plain["id"], [1.0, 2.0, 10.0], [300.0, 100.0, 200.0])
    many = api.create_job(student="resnet20")  # only its newest 50 epochs count
    record_epochs(api, many["id"], [100.0] * 10 + [3.0] * 50, [10.0] * 10 + [50.0] * 50)
    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    distilled = api.create_job(method="kd", teacher={"job": teacher["id"]})
    record_epochs(api, distilled["id"], [4.0, 6.0], [80.0, 120.0])
    swept = api.create_job()  # a sweep member may share its epochs with others in lockstep: left out
    with api.session() as session:
        session.execute(update(Job).where(Job.id == swept["id"]).values(group_key="g1"))
        session.commit()
    record_epochs(api, swept["id"], [1000.0], [1.0])

    response = api.get("/v1/catalog")
    assert response.status_code == 200
    catalog = response.json()
    speeds = {(s["dataset"], s["student"], s["distilled"]): s for s in catalog["measured_speeds"]}
    assert set(speeds) == {("digits", "resnet8", False), ("digits", "resnet20", False), ("digits", "resnet8", True)}
    assert speeds["digits", "resnet8", False] == {
        "dataset": "digits",
        "image_size": 32,
        "student": "resnet8",
        "distilled": False,
        "seconds_per_epoch": 2.0,
        "images_per_s": 200.0,
        "epochs_measured": 3,
        "jobs_measured": 1,
    }
    assert (
        speeds["digits", "resnet20", False]["seconds_per_epoch"],
        speeds["digits", "resnet20", False]["epochs_measured"],
    ) == (3.0, 50)
    assert speeds["digits", "resnet8", True]["seconds_per_epoch"] == 5.0
    throughput = {(t["student"], t["image_size"], t["distilled"]): t for t in catalog["measured_throughput"]}
    assert throughput["resnet8", 32, False] == {
        "student": "resnet8",
        "image_size": 32,
        "distilled": False,
        "images_per_s": 200.0,
        "epochs_measured": 3,
        "jobs_measured": 1,
    }
    for job in (plain, many, teacher, distilled, swept):
        assert job["id"] not in response.text
    assert "tnt_" not in response.text and "alice" not in response.text


def test_a_measurement_on_an_uploaded_dataset_is_listed_for_its_tenant_only(api: Api) -> None:
    dataset = add_dataset(api, api.other_token, "bobs-birds")
    job = api.create_job(api.other_token, dataset=dataset)
    record_epochs(api, job["id"], [0.5], [8.0])

    bobs = api.get("/v1/catalog", api.other_token).json()
    assert [(s["dataset"], s["seconds_per_epoch"]) for s in bobs["measured_speeds"]] == [(dataset, 0.5)]
    alices = api.get("/v1/catalog")
    assert alices.json()["measured_speeds"] == [] and dataset not in alices.text
    # What one other tenant trained (student, image size, epochs) is its business: pooled from 3 tenants on.
    assert alices.json()["measured_throughput"] == []


def test_the_form_shows_the_training_time_measured_here(api: Api, alice: Browser) -> None:
    assert estimate_of(alice.get("/ui/submit").text) == "no measurement yet for resnet8 on digits"
    job = api.create_job()
    record_epochs(api, job["id"], [2.0, 2.0, 3.0], [700.0, 700.0, 500.0])
    html = alice.get("/ui/submit").text  # digits, resnet8, ce (no teacher yet), 240 epochs
    assert selected(html)["method"] == "ce" and form_values(html)["hyperparameters.epochs"] == "240"
    assert estimate_of(html) == "≈ 8 min on this service (measured over 3 epochs of 1 job)"  # 240 × 2 s
    data = json.loads(re.search(r'id="speed-estimates">(.*?)</script>', html, re.S).group(1))
    assert data["datasets"]["digits"] == {"name": "digits", "train_size": DIGITS_TRAIN_IMAGES, "image_size": 32}
    assert [s["seconds_per_epoch"] for s in data["speeds"]] == [2.0]

    refused = alice.post("/ui/submit", page_form(html) | {"beta": "-1", "hyperparameters.epochs": "30"})
    assert estimate_of(refused.text) == "≈ 1 min on this service (measured over 3 epochs of 1 job)"  # 30 × 2 s
    again = api.create_job()  # a second job of the kind: its epochs join the median, the text counts it
    record_epochs(api, again["id"], [2.0], [700.0])
    assert estimate_of(alice.get("/ui/submit").text) == "≈ 8 min on this service (measured over 4 epochs of 2 jobs)"
    other = alice.post("/ui/submit", page_form(html) | {"beta": "-1", "student": "resnet20"})
    assert estimate_of(other.text) == "no measurement yet for resnet20 on digits"
    no_epochs = alice.post("/ui/submit", page_form(html) | {"beta": "-1", "hyperparameters.epochs": "many"})
    assert estimate_of(no_epochs.text) == "give the number of epochs for an estimate"


def test_without_a_measurement_on_the_dataset_the_students_speed_elsewhere_is_used(api: Api, alice: Browser) -> None:
    flowers = add_dataset(api, api.token, "flowers")  # 32 px, like digits
    job = api.create_job(dataset=flowers)
    record_epochs(api, job["id"], [0.1], [DIGITS_TRAIN_IMAGES / 3])
    html = alice.get("/ui/submit").text  # digits: 240 epochs × 1437 images ÷ (1437 / 3) images/s = 720 s
    assert (
        estimate_of(html)
        == "≈ 12 min on this service (from resnet8's images/s on other datasets, measured over 1 epoch of 1 job)"
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.2, "1 s"), (45, "45 s"), (59.4, "59 s"), (150, "3 min"), (3500, "58 min"), (3599, "1 h"), (9000, "2.5 h"),
     (35_000, "9.7 h"), (36_000, "10 h"), (200_000, "56 h")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: float, shown: str) -> None:
    assert humane_duration(seconds) == shown
