"""Hostile JSON gets a 422 naming the field, and nothing is stored: invalid Unicode, NUL,
non-finite numbers, deep nesting."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Api, assert_error, job_body


def _post_raw(api: Api, text: str):
    return api.post("/v1/jobs", content=text.encode(), headers={"Content-Type": "application/json"})


def _job_count(api: Api) -> int:
    return len(api.get("/v1/jobs").json()["data"])


@pytest.mark.parametrize(
    ("fragment", "param"),
    [
        ('"metadata": {"note": "\\ud800"}', "metadata.note"),
        ('"metadata": {"\\udfff": 1}', "metadata.\ufffd"),
        ('"metadata": {"note": "a\\u0000b"}', "metadata.note"),
        ('"metadata": {"list": ["ok", "\\ud83d"]}', "metadata.list[1]"),
    ],
)
def test_invalid_text_anywhere_in_a_body_is_refused(any_api: Api, fragment: str, param: str) -> None:
    body = json.dumps(job_body())[:-1] + ", " + fragment + "}"
    error = assert_error(_post_raw(any_api, body), 422, "validation_error", param)
    assert "UTF-8" in error["message"]
    assert _job_count(any_api) == 0
    assert any_api.get("/v1/jobs").status_code == 200  # the list still reads


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ('"hyperparameters": {"lr": NaN}', "hyperparameters.lr"),
        ('"hyperparameters": {"lr": Infinity}', "hyperparameters.lr"),
        ('"beta": -Infinity', "beta"),
        ('"hyperparameters": {"weight_decay": 1e999}', "hyperparameters.weight_decay"),
        ('"hyperparameters": {"temperature": -1e400}', "hyperparameters.temperature"),
    ],
)
def test_non_finite_numbers_are_refused_at_submission(api: Api, fields: str, param: str) -> None:
    body = '{"dataset": "digits", "student": "resnet8", "method": "ce", ' + fields + "}"
    error = assert_error(_post_raw(api, body), 422, "validation_error", param)
    assert "finite" in error["message"]
    assert _job_count(api) == 0


def test_deep_nesting_is_refused_without_a_crash(api: Api) -> None:
    for depth in (40, 5000):
        deep = "[" * depth + "]" * depth
        body = json.dumps(job_body())[:-1] + ', "metadata": {"x": ' + deep + "}}"
        error = assert_error(_post_raw(api, body), 422, "validation_error")
        assert "levels deep" in error["message"]
    assert _job_count(api) == 0


def test_numbers_in_form_fields_are_ascii_decimals_within_bounds(api: Api) -> None:
    weights = {"file": ("w.safetensors", b"not read: the fields are refused first")}
    for raw in ("²", "١٠", "1" * 30, "0", "-3", "1e3"):
        response = api.post("/v1/models", files=weights, data={"arch": "resnet8", "num_classes": raw})
        error = assert_error(response, 422, "validation_error", "num_classes")
        assert "digits 0-9" in error["message"]


def test_nul_in_a_form_field_is_refused(api: Api) -> None:
    response = api.post(
        "/v1/models",
        files={"file": ("w.safetensors", b"x")},
        data={"arch": "resnet8", "num_classes": "10", "name": "a\x00b"},
    )
    assert_error(response, 422, "validation_error", "name")
    assert api.get("/v1/models").json()["data"] == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"seed": 10**30}, "seed"),
        ({"hyperparameters": {"device": "cuda:\u0661"}}, "hyperparameters.device"),
        ({"hyperparameters": {"device": "cuda:0; rm"}}, "hyperparameters.device"),
        ({"hyperparameters": {"lr_decay_epochs": list(range(1, 100))}}, "hyperparameters.lr_decay_epochs"),
        ({"hyperparameters": {"lr_decay_epochs": [10**12]}}, "hyperparameters.lr_decay_epochs[0]"),
        ({"scales": list(range(1, 40))}, "scales"),
        ({"hyperparameters": {"loader_workers": 10**9}}, "hyperparameters.loader_workers"),
        # accepted once, then the job failed at its first step or its first device lookup
        ({"hyperparameters": {"lr": 1e308}}, "hyperparameters.lr"),
        ({"hyperparameters": {"kd_weight": 1e308}}, "hyperparameters.kd_weight"),
        ({"method": "sd-kd", "beta": 1e308, "teacher": {"arch": "resnet8", "pretrained": True}}, "beta"),
        ({"hyperparameters": {"device": "cuda:99"}}, "hyperparameters.device"),
        ({"scales": ["1"]}, "scales[0]"),
        ({"scales": [True]}, "scales[0]"),
        ({"student": "timm/resnet18."}, "student"),
    ],
)
def test_values_the_trainer_could_not_take_are_refused_at_submission(api: Api, body: dict, param: str) -> None:
    assert_error(api.post_job(**body), 422, "validation_error", param)
    assert _job_count(api) == 0


NUL_URLS = [
    *[("GET", f"/v1/jobs?{name}=%00", name) for name in ("name", "tag", "sweep_id", "after")],
    *[("GET", f"/v1/{kind}?after=%00", "after") for kind in ("sweeps", "datasets", "models")],
    *[("GET", f"/v1/{kind}/%00", "path") for kind in ("jobs", "sweeps", "datasets", "models")],
    ("POST", "/v1/jobs/%00/cancel", "path"),
    ("POST", "/v1/jobs/%00/resume", "path"),
    ("POST", "/v1/sweeps/%00/cancel", "path"),
    ("GET", "/v1/jobs?tag=ok&tag=a%00b", "tag"),
    ("GET", "/v1/jobs?%00=1", "\ufffd"),
    ("GET", "/ui?tag=%00", "tag"),
]


@pytest.mark.parametrize(("method", "url", "param"), NUL_URLS)
def test_nul_in_a_url_is_a_422_naming_where(any_api: Api, method: str, url: str, param: str) -> None:
    """These answered 500 on PostgreSQL (which refuses NUL in text) before the database was asked."""
    response = any_api.client.request(method, url, headers=any_api.auth())
    error = assert_error(response, 422, "validation_error", param)
    assert "NUL" in error["message"], error
