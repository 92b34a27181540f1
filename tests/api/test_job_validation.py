"""Refused job submissions: each a 422 (or 404/409) naming the field at fault."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from service.db.models import Job
from tests.api.conftest import Api, assert_error, job_body


def _nothing_stored(api: Api) -> None:
    with api.session() as session:
        assert session.scalars(select(Job)).all() == []


def test_unknown_key_at_top_level(api: Api) -> None:
    error = assert_error(
        api.post("/v1/jobs", json=job_body(learning_rate=0.1)), 422, "validation_error", "learning_rate"
    )
    assert "unknown field" in error["message"]
    _nothing_stored(api)


def test_unknown_key_inside_hyperparameters(api: Api) -> None:
    response = api.post_job(hyperparameters={"epochs": 2, "lr_typo": 0.1})
    assert_error(response, 422, "validation_error", "hyperparameters.lr_typo")


def test_unknown_key_inside_teacher(api: Api) -> None:
    response = api.post_job(method="kd", teacher={"job": "job_x", "path": "/etc"})
    assert_error(response, 422, "validation_error", "teacher.path")


def test_bad_value_names_the_nested_field(api: Api) -> None:
    assert_error(api.post_job(hyperparameters={"lr": -1}), 422, "validation_error", "hyperparameters.lr")
    assert_error(api.post_job(scales=[1, 0]), 422, "validation_error", "scales")


def test_bad_method_lists_the_allowed(api: Api) -> None:
    error = assert_error(api.post_job(method="sd-xyz"), 422, "validation_error", "method")
    assert "allowed: ce, kd, dkd, nkd, sd-kd, sd-dkd, sd-nkd" in error["message"]
    close = assert_error(api.post_job(method="sd_kd"), 422, "validation_error", "method")
    assert "did you mean 'sd-kd'" in close["message"]


def test_unknown_dataset_lists_the_allowed(api: Api) -> None:
    error = assert_error(api.post_job(dataset="mnist"), 422, "validation_error", "dataset")
    assert "digits" in error["message"] and "cifar100" in error["message"]


def test_server_paths_are_refused(api: Api) -> None:
    error = assert_error(api.post_job(dataset="imagefolder:/etc"), 422, "validation_error", "dataset")
    assert "POST /v1/datasets" in error["message"]


def test_missing_builtin_data_is_a_dataset_error(api: Api) -> None:
    error = assert_error(api.post_job(dataset="cifar10"), 422, "dataset_error", "dataset")
    assert "cifar10 is not on this server" in error["message"]
    # what an operator changes is named; the service's folders are not the tenant's business
    assert "SDD_ALLOW_DOWNLOAD=true" in error["message"] and "SDD_DATA_ROOT" in error["message"]
    assert str(api.settings.data_root) not in error["message"] and str(api.settings.home) not in error["message"]


def test_unknown_student_lists_the_allowed(api: Api) -> None:
    error = assert_error(api.post_job(student="resnet8_x4"), 422, "validation_error", "student")
    assert "did you mean 'resnet8x4'" in error["message"] and "wrn_40_2" not in error["message"]


def test_scale_larger_than_the_students_feature_map(api: Api) -> None:
    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    response = api.post_job(method="sd-kd", student="mobilenetv2", teacher={"job": teacher["id"]}, scales=[1, 2, 4])
    error = assert_error(response, 422, "invalid_spec", "scales")
    assert "2x2" in error["message"]
    # The same job with scales that fit is accepted.
    assert (
        api.post_job(method="sd-kd", student="mobilenetv2", teacher={"job": teacher["id"]}, scales=[1, 2]).status_code
        == 201
    )


@pytest.mark.parametrize("field, value", [("beta", 4), ("scales", [1, 2])])
def test_scales_and_beta_on_a_method_that_is_not_scale_decoupled_are_refused(api: Api, field, value) -> None:
    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    error = assert_error(api.post_job(method="kd", teacher={"job": teacher["id"]}, **{field: value}), 422, None, field)
    assert error["code"] == "validation_error"
    assert error["message"].startswith(f"{field}: shape")  # "beta: shapes only", "scales: shape only"
    assert "only the scale-decoupled methods (sd-dkd, sd-kd, sd-nkd)" in error["message"]
    assert "choose sd-kd" in error["message"]
    assert_error(api.post_job(**{field: value}), 422, "validation_error", field)  # ce as well
    kd = api.create_job(method="kd", teacher={"job": teacher["id"]})
    assert (kd["spec"]["scales"], kd["spec"]["beta"]) == (None, None)
    with api.session() as session:
        assert not {"scales", "beta"} & set(session.get(Job, kd["id"]).spec)  # stored without them
    sd = api.create_job(method="sd-kd", teacher={"job": teacher["id"]})
    assert (sd["spec"]["scales"], sd["spec"]["beta"]) == ([1, 2, 4], 2.0)  # the paper's, filled in


def test_sd_method_without_teacher(api: Api) -> None:
    error = assert_error(api.post_job(method="sd-kd"), 422, "validation_error", "teacher")
    assert "distils from a teacher" in error["message"]


def test_ce_with_teacher(api: Api) -> None:
    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    error = assert_error(api.post_job(method="ce", teacher={"job": teacher["id"]}), 422, "validation_error", "teacher")
    assert "leave teacher empty" in error["message"]


def test_teacher_needs_exactly_one_source(api: Api) -> None:
    assert_error(api.post_job(method="kd", teacher={}), 422, "validation_error", "teacher")
    assert_error(
        api.post_job(method="kd", teacher={"job": "job_a", "model": "mdl_b"}),
        422,
        "validation_error",
        "teacher",
    )


def test_teacher_job_not_succeeded(api: Api) -> None:
    queued = api.create_job()
    error = assert_error(
        api.post_job(method="kd", teacher={"job": queued["id"]}), 409, "teacher_not_succeeded", "teacher.job"
    )
    assert "queued" in error["message"]


def test_unknown_teacher_and_dataset_ids(api: Api) -> None:
    assert_error(api.post_job(method="kd", teacher={"job": "job_missing"}), 404, "not_found", "teacher.job")
    assert_error(api.post_job(method="kd", teacher={"model": "mdl_missing"}), 404, "not_found", "teacher.model")
    assert_error(api.post_job(dataset="ds_missing"), 404, "not_found", "dataset")


def test_metadata_limit(api: Api) -> None:
    assert api.post_job(metadata={"note": "x" * 1000}).status_code == 201
    assert_error(api.post_job(metadata={"note": "x" * 17000}), 422, "validation_error", "metadata")
    assert_error(api.post_job(metadata=[1, 2]), 422, "validation_error", "metadata")


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"hyperparameters": {"epochs": 1001}}, "hyperparameters.epochs"),
        ({"hyperparameters": {"batch_size": 5000}}, "hyperparameters.batch_size"),
        ({"image_size": 1024}, "image_size"),
        ({"scales": [1, 32], "method": "sd-kd"}, "scales"),
    ],
)
def test_service_limits(api: Api, overrides: dict, param: str) -> None:
    if overrides.get("method") == "sd-kd":  # scales shape the SD methods only
        teacher = api.create_job()
        api.succeed_job(teacher["id"])
        overrides = {**overrides, "teacher": {"job": teacher["id"]}}
    error = assert_error(api.post_job(**overrides), 422, "limit_exceeded", param)
    assert "limit" in error["message"]


def test_idempotency_key_too_long(api: Api) -> None:
    response = api.post_job(headers={"Idempotency-Key": "k" * 256})
    assert_error(response, 422, "validation_error", "Idempotency-Key")


def test_checking_a_large_image_size_touches_no_image(api: Api, monkeypatch) -> None:
    """digits at 511 px once made the API upscale all 1,797 images (21.7 GB): the checks need the
    class count and the size, never the pixels."""
    import sdd_core.data.digits as digits

    monkeypatch.setattr(digits, "_load_split", lambda size: pytest.fail(f"the API loaded the digits at {size} px"))
    response = api.post_job(image_size=511)
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["image_size"] == 511
    assert api.get("/v1/catalog").status_code == 200


def test_what_the_server_refuses_the_schema_says(api: Api) -> None:
    """Schema-valid requests the server refused: an empty student, a cursor that cannot be an id."""
    schema = api.client.get("/openapi.json").json()
    spec = schema["components"]["schemas"]["JobCreate"]["properties"]
    assert spec["student"]["minLength"] == 1 and spec["dataset"]["minLength"] == 1
    assert_error(api.post_job(student=""), 422, "validation_error", "student")
    (after,) = [p for p in schema["paths"]["/v1/jobs"]["get"]["parameters"] if p["name"] == "after"]
    pattern = after["schema"]["anyOf"][0]["pattern"]
    assert re.fullmatch(pattern, api.create_job()["id"]) and not re.fullmatch(pattern, "job_x")
    assert_error(api.get("/v1/jobs?after=job_x"), 422, "validation_error", "after")
    upload = schema["paths"]["/v1/datasets"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert "application/zip" in upload["encoding"]["file"]["contentType"]
