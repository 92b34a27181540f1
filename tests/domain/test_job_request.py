"""The shape of a job request (``domain.jobs.job_request``): what pydantic refuses, and where it says so.

Each refusal is checked by the location pydantic reports (the API turns it into the error's
``param``) and by the words a user acts on; each accepted form by what the request keeps.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.jobs.job_request import (
    METADATA_MAX_BYTES,
    NAME_MAX_CHARS,
    TAGS_MAX,
    JobRequest,
    TeacherRef,
    WeightsRef,
)
from sdd_core.data import list_datasets


def request(**fields: Any) -> JobRequest:
    """A cross-entropy job on digits with ``fields`` on top."""
    return JobRequest.model_validate({"dataset": "digits", "student": "resnet8", "method": "ce"} | fields)


def refusal(**fields: Any) -> tuple[tuple[str | int, ...], str]:
    """(location, message) of the one error pydantic reports for this request."""
    with pytest.raises(ValidationError) as caught:
        request(**fields)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]["loc"], errors[0]["msg"]


# ---------------------------------------------------------------- dataset


@pytest.mark.parametrize("dataset", [*list_datasets(), "ds_0a1b2c", "ds_x"])
def test_a_built_in_name_or_an_uploaded_dataset_id_is_accepted(dataset: str) -> None:
    assert request(dataset=dataset).dataset == dataset


def test_a_server_path_is_refused_pointing_to_the_upload() -> None:
    location, message = refusal(dataset="imagefolder:/srv/data/birds")
    assert location == ("dataset",)
    assert "server paths are not accepted over HTTP" in message and "POST /v1/datasets" in message


@pytest.mark.parametrize("dataset", ["mnist", "ds_", "DIGITS"])
def test_an_unknown_dataset_is_refused_listing_what_is_allowed(dataset: str) -> None:
    location, message = refusal(dataset=dataset)
    assert location == ("dataset",)
    assert f"unknown dataset {dataset!r}" in message
    assert all(name in message for name in list_datasets()) and "ds_" in message


def test_an_empty_dataset_is_refused_as_the_schema_says() -> None:
    location, message = refusal(dataset="")
    assert location == ("dataset",) and "at least 1 character" in message


# ---------------------------------------------------------------- teacher


def test_every_method_but_ce_needs_a_teacher_and_ce_refuses_one() -> None:
    location, message = refusal(method="kd")
    assert location == ("teacher",) and "'kd' distils from a teacher" in message
    location, message = refusal(teacher={"job": "job_1"})
    assert location == ("teacher",) and "'ce' trains without a teacher" in message
    assert request().teacher is None
    assert request(method="kd", teacher={"job": "job_1"}).teacher == TeacherRef(job="job_1")


@pytest.mark.parametrize(
    ("teacher", "words"),
    [
        ({"job": "job_1", "model": "mdl_1"}, "name exactly one of"),
        ({"job": "job_1", "arch": "tv/resnet18", "pretrained": True}, "name exactly one of"),
        ({}, "name exactly one of"),
        ({"pretrained": True}, "name exactly one of"),
        ({"arch": "tv/resnet18"}, "'pretrained': true goes with 'arch'"),
        ({"arch": "tv/resnet18", "pretrained": False}, "'pretrained': true goes with 'arch'"),
        ({"job": "job_1", "pretrained": True}, "'pretrained': true goes with 'arch'"),
    ],
)
def test_a_teacher_names_exactly_one_source(teacher: dict[str, Any], words: str) -> None:
    location, message = refusal(method="kd", teacher=teacher)
    assert location == ("teacher",) and words in message


def test_a_pretrained_teacher_must_be_a_known_architecture() -> None:
    location, message = refusal(method="kd", teacher={"arch": "tv/resnet9000", "pretrained": True})
    assert location == ("teacher", "arch") and "unknown architecture 'tv/resnet9000'" in message
    accepted = request(method="kd", teacher={"arch": "tv/resnet18", "pretrained": True}).teacher
    assert accepted == TeacherRef(arch="tv/resnet18", pretrained=True)


def test_a_teacher_with_an_unknown_key_is_refused() -> None:
    location, _ = refusal(method="kd", teacher={"job": "job_1", "path": "/tmp/teacher.pt"})
    assert location == ("teacher", "path")


def test_a_reference_is_written_back_with_only_the_key_it_names() -> None:
    assert TeacherRef(job="job_1").model_dump(mode="json") == {"job": "job_1"}
    assert TeacherRef(model="mdl_1").model_dump(mode="json") == {"model": "mdl_1"}
    assert TeacherRef(arch="tv/resnet18", pretrained=True).model_dump(mode="json") == {
        "arch": "tv/resnet18",
        "pretrained": True,
    }
    assert WeightsRef(model="mdl_1").model_dump(mode="json") == {"model": "mdl_1"}


# ---------------------------------------------------------------- the student's first weights


def test_the_student_starts_from_scratch_unless_told_otherwise() -> None:
    assert request().init == "scratch"
    assert request(init="pretrained").init == "pretrained"
    assert request(init={"model": "mdl_1"}).init == WeightsRef(model="mdl_1")
    assert request(init={"job": "job_1"}).init == WeightsRef(job="job_1")


@pytest.mark.parametrize("init", [{"job": "job_1", "model": "mdl_1"}, {}])
def test_a_warm_start_names_exactly_one_of_job_or_model(init: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        request(init=init)
    messages = [error["msg"] for error in caught.value.errors()]
    assert all(error["loc"][0] == "init" for error in caught.value.errors())
    assert any("name exactly one of 'job'" in message for message in messages), messages


def test_an_unknown_start_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        request(init="imagenet")
    assert {error["loc"][0] for error in caught.value.errors()} == {"init"}
    assert any("'scratch' or 'pretrained'" in error["msg"] for error in caught.value.errors())


# ---------------------------------------------------------------- metadata, name, tags


def test_metadata_may_be_16_kib_of_compact_json_and_not_a_byte_more() -> None:
    wrapper = len('{"k":""}')
    fits = {"k": "x" * (METADATA_MAX_BYTES - wrapper)}
    assert request(metadata=fits).metadata == fits
    location, message = refusal(metadata={"k": "x" * (METADATA_MAX_BYTES - wrapper + 1)})
    assert location == ("metadata",) and "at most 16 KiB of JSON" in message
    assert request(metadata=None).metadata is None


def test_a_name_is_kept_without_the_spaces_around_it() -> None:
    assert request(name="  resnet8 sd-kd beta 2 ").name == "resnet8 sd-kd beta 2"
    assert request(name=" " + "n" * NAME_MAX_CHARS + " ").name == "n" * NAME_MAX_CHARS
    assert request().name is None


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "got 0"),
        ("   ", "got 0"),
        ("n" * (NAME_MAX_CHARS + 1), f"got {NAME_MAX_CHARS + 1}"),
        ("first\nsecond", "printable text on one line"),
        ("a\tb", "printable text on one line"),
        ("bell\x07", "printable text on one line"),
    ],
)
def test_a_name_must_be_short_printable_text(name: str, words: str) -> None:
    location, message = refusal(name=name)
    assert location == ("name",) and words in message


def test_tags_are_stored_once_each_and_sorted() -> None:
    assert request(tags=["beta-sweep", "digits", "beta-sweep", "a.b:c_d"]).tags == ["a.b:c_d", "beta-sweep", "digits"]
    assert request().tags == []
    assert request(tags=["t" * 40]).tags == ["t" * 40]


def test_the_tag_limit_counts_different_tags() -> None:
    different = [f"t{i}" for i in range(TAGS_MAX)]
    assert len(request(tags=different + different).tags) == TAGS_MAX
    location, message = refusal(tags=[*different, "one-more"])
    assert location == ("tags",) and f"at most {TAGS_MAX} different tags, got {TAGS_MAX + 1}" in message


@pytest.mark.parametrize("tag", ["", "two words", "t" * 41, "é", "a/b", "tag\n"])
def test_a_tag_is_1_to_40_of_the_allowed_characters(tag: str) -> None:
    location, message = refusal(tags=["fine", tag])
    assert location == ("tags",) and "must be 1 to 40 characters of A-Z a-z 0-9 . _ : -" in message


# ---------------------------------------------------------------- devices, unknown fields, what is written back


def test_devices_are_1_to_8() -> None:
    assert request(devices=8).devices == 8
    for devices in (0, 9):
        location, _ = refusal(devices=devices)
        assert location == ("devices",)


def test_an_unknown_field_is_refused() -> None:
    location, _ = refusal(teacher_path="/tmp/teacher.pt")
    assert location == ("teacher_path",)


def test_defaults_of_the_service_fields_are_left_out_when_written_back() -> None:
    dumped = request().model_dump(mode="json")
    assert not {"devices", "sync_batchnorm", "init"} & set(dumped)
    dumped = request(devices=2, sync_batchnorm=True, init={"model": "mdl_1"}).model_dump(mode="json")
    assert (dumped["devices"], dumped["sync_batchnorm"], dumped["init"]) == (2, True, {"model": "mdl_1"})


# ---------------------------------------------------------------- scales and beta: the SD methods'


def test_an_sd_request_takes_the_papers_scales_and_beta_as_defaults_not_as_stated_values() -> None:
    teacher = {"job": "job_1"}
    left_out = request(method="sd-kd", teacher=teacher)
    assert (left_out.scales, left_out.beta) == ([1, 2, 4], 2.0)
    assert not {"scales", "beta"} & set(left_out.as_submitted())  # a copy leaves them to the service again
    written = request(method="sd-kd", teacher=teacher, scales=[1, 2, 4], beta=2.0)
    assert written.model_dump(mode="json") == left_out.model_dump(mode="json")  # one Idempotency-Key body
    assert written.as_submitted()["scales"] == [1, 2, 4]
    assert request(method="sd-kd", teacher=teacher, scales=None).scales == [1, 2, 4]  # null: left out


def test_a_request_of_another_method_carries_none_and_pydantic_leaves_a_stated_one_to_the_domain() -> None:
    """A sweep's base may state them for its SD members (``domain.jobs.validation`` refuses them on a job)."""
    kd = request(method="kd", teacher={"job": "job_1"})
    assert (kd.scales, kd.beta) == (None, None) and not {"scales", "beta"} & set(kd.model_dump(mode="json"))
    assert request(method="kd", teacher={"job": "job_1"}, beta=4.0).beta == 4.0
