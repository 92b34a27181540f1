"""Teacher weight uploads: strict loading into the named architecture, and use as a teacher."""

from __future__ import annotations

import hashlib

import pytest
from safetensors.torch import save
from sqlalchemy import select

from sdd_core.models import create_model
from service.artifact_stores import get_artifact_store
from service.artifacts import model_weights_key
from service.db.models import UploadedModel
from tests.api.conftest import Api, assert_error


@pytest.fixture(scope="module")
def resnet8_weights() -> bytes:
    return save(create_model("resnet8", 10).state_dict())


def upload(api: Api, data: bytes, token: str | None = None, **fields: str):
    return api.post("/v1/models", token, files={"file": ("teacher.safetensors", data)}, data=fields)


def assert_nothing_stored(api: Api) -> None:
    with api.session() as session:
        assert session.scalars(select(UploadedModel)).all() == []
    assert not (api.settings.artifact_dir / "models").exists() or not any(
        (api.settings.artifact_dir / "models").iterdir()
    )
    assert list(api.settings.work_dir.iterdir()) == []


def test_upload_good_weights(api: Api, resnet8_weights: bytes) -> None:
    response = upload(api, resnet8_weights, arch="resnet8", num_classes="10", name="r8-digits")
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["id"].startswith("mdl_") and model["name"] == "r8-digits"
    assert (model["arch"], model["num_classes"]) == ("resnet8", 10)
    assert model["size_bytes"] == len(resnet8_weights)
    assert model["sha256"] == hashlib.sha256(resnet8_weights).hexdigest()
    stored = get_artifact_store(api.settings).path(model_weights_key(model["id"]))
    assert stored.read_bytes() == resnet8_weights
    assert list(api.settings.work_dir.iterdir()) == []

    assert api.get(f"/v1/models/{model['id']}").json() == model
    assert api.get("/v1/models").json() == {"data": [model], "has_more": False}
    assert_error(api.get(f"/v1/models/{model['id']}", token=api.other_token), 404, "not_found")

    # A teacher for a job of the same tenant; another tenant's job cannot name it.
    job = api.create_job(method="sd-kd", teacher={"model": model["id"]})
    assert job["spec"]["teacher"] == {"model": model["id"]}
    assert_error(
        api.post_job(token=api.other_token, method="kd", teacher={"model": model["id"]}),
        404,
        "not_found",
        "teacher.model",
    )


def test_wrong_architecture_keys(api: Api, resnet8_weights: bytes) -> None:
    error = assert_error(
        upload(api, resnet8_weights, arch="wrn_16_1", num_classes="10"), 422, "weights_mismatch", "file"
    )
    assert "missing keys" in error["message"] and "unexpected keys" in error["message"]
    assert_nothing_stored(api)


def test_wrong_class_count_shapes(api: Api, resnet8_weights: bytes) -> None:
    error = assert_error(upload(api, resnet8_weights, arch="resnet8", num_classes="5"), 422, "weights_mismatch", "file")
    assert "wrong shapes" in error["message"] and "[10," in error["message"]


def test_unknown_arch_and_bad_fields(api: Api, resnet8_weights: bytes) -> None:
    error = assert_error(
        upload(api, resnet8_weights, arch="resnet8_x4", num_classes="10"), 422, "validation_error", "arch"
    )
    assert "did you mean 'resnet8x4'" in error["message"]
    assert_error(upload(api, resnet8_weights, num_classes="10"), 422, "validation_error", "arch")
    assert_error(
        upload(api, resnet8_weights, arch="resnet8", num_classes="ten"),
        422,
        "validation_error",
        "num_classes",
    )
    assert_error(upload(api, resnet8_weights, arch="resnet8"), 422, "validation_error", "num_classes")
    assert_nothing_stored(api)


def test_not_a_safetensors_file(api: Api) -> None:
    error = assert_error(
        upload(api, b"PK\x03\x04 a zip, say", arch="resnet8", num_classes="10"),
        422,
        "invalid_weights",
        "file",
    )
    assert "safetensors" in error["message"]
    assert_nothing_stored(api)


def test_class_count_mismatch_with_a_model_teacher(api: Api) -> None:
    weights = save(create_model("resnet8", 5).state_dict())
    model = upload(api, weights, arch="resnet8", num_classes="5").json()
    error = assert_error(api.post_job(method="kd", teacher={"model": model["id"]}), 422, "invalid_spec", "teacher")
    assert "5 classes" in error["message"] and "10" in error["message"]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_with_nan_or_infinite_values_are_refused(api: Api, value: float) -> None:
    """Once stored, and the job then failed with advice to lower the learning rate."""
    state = create_model("resnet8", 10).state_dict()
    state["fc.weight"][0, 0] = value
    response = upload(api, save(state), arch="resnet8", num_classes="10")
    error = assert_error(response, 422, "weights_mismatch", "file")
    assert "NaN or infinite values in: fc.weight" in error["message"], error
    assert_nothing_stored(api)
