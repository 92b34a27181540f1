"""The job form's defaults cannot start a long or wrong run unseen: no teacher chosen for the user,
teachers named by name, architecture and top-1 (best first), the epochs in sight, and the estimated
time said next to the submit button (a warning and the button's label above ``WARN_SECONDS``)."""

from __future__ import annotations

import re
from html import unescape

import pytest

from api.ui.submit_estimate import WARN_EPOCHS_UNMEASURED, WARN_SECONDS, FormEstimate
from tests.api.conftest import Api
from tests.api.ui.test_clone_and_estimate import page_form, record_epochs, selected
from tests.api.ui.test_pages import Browser, form_values


def options(html: str, name: str) -> list[tuple[str, str]]:
    """(value, label) of each option of the select ``name``, in page order."""
    select = re.search(rf'<select [^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None, name
    return [
        (value, unescape(label))
        for value, label in re.findall(r'<option value="([^"]*)"[^>]*>(.*?)</option>', select.group(1))
    ]


def text_of(html: str, element_id: str) -> str | None:
    """The text of the element with ``element_id`` (None when it is absent or hidden)."""
    found = re.search(rf'<(\w+) [^>]*id="{element_id}"([^>]*)>(.*?)</\1>', html, re.S)
    if found is None or " hidden" in found.group(2):
        return None
    return " ".join(unescape(re.sub(r"<[^>]+>", "", found.group(3))).split())


def test_no_teacher_is_chosen_and_teachers_are_named_best_first(api: Api, alice: Browser) -> None:
    weak = api.create_job(name="kd baseline", hyperparameters={"epochs": 1})
    api.succeed_job(weak["id"], result={"val_top1": 28.9})
    strong = api.create_job(student="resnet20", hyperparameters={"epochs": 1})  # unnamed
    api.succeed_job(strong["id"], result={"val_top1": 71.2})

    html = alice.get("/ui/submit").text
    assert selected(html)["teacher"] == "" and selected(html)["method"] == "sd-kd"
    teachers = options(html, "teacher")
    assert teachers[:3] == [
        ("", "none: choose a teacher for every method but ce"),
        (f"job:{strong['id']}", f"resnet20, top-1 71.20% (ce on digits, {strong['id']})"),
        (f"job:{weak['id']}", "kd baseline — resnet8, top-1 28.90% (ce on digits)"),
    ]
    refused = alice.post("/ui/submit", page_form(html) | {"hyperparameters.epochs": "1"})
    assert refused.status_code == 422 and 'id="f-teacher-error"' in refused.text  # sd-kd needs the user's choice
    assert api.get("/v1/jobs").json()["data"][0]["id"] == strong["id"]  # nothing new submitted


def test_the_epochs_are_outside_the_collapsed_hyperparameters(api: Api, alice: Browser) -> None:
    html = alice.get("/ui/submit").text
    collapsed = re.search(r'<details class="card" id="hyperparameters">(.*?)</details>', html, re.S).group(1)
    assert 'name="hyperparameters.epochs"' not in collapsed and 'name="hyperparameters.lr"' in collapsed
    assert form_values(html)["hyperparameters.epochs"] == "240"
    assert re.search(r'<label for="f-hyperparameters-epochs">Epochs</label>', html)

    refused = alice.post("/ui/submit", page_form(html) | {"method": "ce", "hyperparameters.epochs": "abc"})
    assert 'id="f-hyperparameters-epochs-error"' in refused.text
    assert '<details class="card" id="hyperparameters">' in refused.text  # the error is in sight: not opened


def test_a_long_run_is_said_next_to_the_submit_button(api: Api, alice: Browser) -> None:
    job = api.create_job()
    record_epochs(api, job["id"], [35.0], [40.0])  # 240 epochs × 35 s = 2.3 h
    html = alice.get("/ui/submit").text  # digits, resnet8, ce (no teacher yet), 240 epochs
    assert text_of(html, "estimate-text") == "≈ 2.3 h on this service (measured over 1 epoch of 1 job)"
    assert text_of(html, "estimate-warning") == (
        "A long job: about 2.3 h of training for 240 epochs. Lower Epochs to try a setting out first."
    )
    assert text_of(html, "submit-job") == "Start a ~2.3 h job"
    assert "measured" in text_of(html, "estimate-how")

    short = alice.post("/ui/submit", page_form(html) | {"beta": "-1", "hyperparameters.epochs": "10"}).text
    assert text_of(short, "estimate-warning") is None and text_of(short, "submit-job") == "Start a ~6 min job"


def test_an_unmeasured_long_run_is_warned_about_too(api: Api, alice: Browser) -> None:
    html = alice.get("/ui/submit").text
    assert text_of(html, "estimate-text") == "no measurement yet for resnet8 on digits"
    assert text_of(html, "estimate-warning") == (
        "240 epochs and no job of this kind measured here yet: it may take hours. Train a few epochs first to measure it."
    )
    assert text_of(html, "submit-job") == "Start a 240-epoch job"
    few = alice.post("/ui/submit", page_form(html) | {"beta": "-1", "hyperparameters.epochs": "3"}).text
    assert text_of(few, "estimate-warning") is None and text_of(few, "submit-job") == "Start a 3-epoch job"


@pytest.mark.parametrize(
    ("seconds", "epochs", "warned", "button"),
    [
        (WARN_SECONDS, 10, False, "Start a ~10 min job"),
        (WARN_SECONDS + 60, 10, True, "Start a ~11 min job"),
        (None, WARN_EPOCHS_UNMEASURED, False, f"Start a {WARN_EPOCHS_UNMEASURED}-epoch job"),
        (None, WARN_EPOCHS_UNMEASURED + 1, True, f"Start a {WARN_EPOCHS_UNMEASURED + 1}-epoch job"),
        (None, None, False, "Submit job"),
    ],
)
def test_the_warning_starts_above_the_thresholds(
    seconds: float | None, epochs: int | None, warned: bool, button: str
) -> None:
    estimate = FormEstimate("", seconds, epochs)
    assert (estimate.warning is not None, estimate.button) == (warned, button)


def test_a_built_in_dataset_not_on_this_server_is_listed_as_such_and_not_selectable(api: Api, alice: Browser) -> None:
    html = alice.get("/ui/submit").text
    assert options(html, "dataset")[:3] == [
        ("cifar10", "cifar10 (not on this server)"),
        ("cifar100", "cifar100 (not on this server)"),
        ("digits", "digits (10 classes)"),
    ]
    disabled = re.findall(r'<option value="([^"]*)"[^>]*\bdisabled\b', html)
    assert disabled == ["cifar10", "cifar100"]
    hint = text_of(html, "f-dataset-hint")
    assert hint is not None and "cifar10, cifar100 are not on this server" in hint
    assert "SDD_ALLOW_DOWNLOAD=true" in hint and "SDD_DATA_ROOT" in hint
    # posted anyway (an old page, a script), it is refused naming the settings and the folder looked in
    refused = alice.post("/ui/submit", page_form(html) | {"dataset": "cifar10"})
    assert refused.status_code == 422
    assert "not in SDD_DATA_ROOT/cifar-10-batches-py, where the service looked" in unescape(refused.text)
    again = options(refused.text, "dataset")  # shown again with it chosen: selectable, to read why
    assert ("cifar10", "cifar10 (not on this server)") in again
    assert re.findall(r'<option value="([^"]*)"[^>]*\bdisabled\b', refused.text) == ["cifar100"]
