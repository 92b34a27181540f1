"""Pretrained and warm-start weights over REST: teachers {"arch", "pretrained": true}, students'
``init``, the catalog's view of which weights are present, and the refusals, each naming the field."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import save
from sqlalchemy import select

from sdd_core.models import create_model
from sdd_core.models.pretrained_weights import expected_weights_path
from service.db.models import Job
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings
from tests.api.test_models import upload
from tests.fixtures.weights_caches import write_timm_weights, write_torchvision_weights


def _architectures(api: Api) -> dict[str, dict]:
    return {a["name"]: a for a in api.get("/v1/catalog").json()["architectures"]}


def test_the_catalog_says_which_pretrained_weights_are_present(api: Api, weights_caches) -> None:
    catalog = api.get("/v1/catalog").json()
    assert catalog["timm_architectures"] > 1000
    before = _architectures(api)
    assert before["resnet8"]["pretrained"] is None and before["resnet8"]["weights_file"] is None
    assert before["tv/resnet18"]["pretrained"] == "absent"
    assert before["tv/resnet18"]["weights_file"] == str(expected_weights_path("resnet18"))
    assert str(weights_caches.torch_home) in before["tv/resnet18"]["weights_file"]
    assert not [name for name in before if name.startswith("timm/")]

    write_torchvision_weights("resnet18")
    write_timm_weights(weights_caches.hf_hub, "timm/test_resnet")
    after = _architectures(api)
    assert after["tv/resnet18"]["pretrained"] == "present"
    assert after["timm/test_resnet.r160_in1k"]["pretrained"] == "present"
    assert after["timm/test_resnet.r160_in1k"]["sd_supported"] is True


def test_a_missing_weights_file_is_refused_at_submission_naming_the_file(api: Api, weights_caches) -> None:
    """The file is named inside its cache, and the cache by name: not the server's folders."""
    error = assert_error(api.post_job(init="pretrained", student="tv/resnet18"), 422, "weights_unavailable", "init")
    assert f"<torch hub cache>/checkpoints/{expected_weights_path('resnet18').name}" in error["message"]
    assert "download.pytorch.org" in error["message"] and str(weights_caches.torch_home) not in error["message"]
    teacher = {"arch": "timm/test_resnet", "pretrained": True}
    error = assert_error(api.post_job(method="kd", teacher=teacher), 422, "weights_unavailable", "teacher.arch")
    assert "<Hugging Face cache>/models--timm--test_resnet.r160_in1k" in error["message"]
    assert str(weights_caches.hf_hub) not in error["message"] and str(Path.home()) not in error["message"]
    with api.session() as session:
        assert session.scalars(select(Job)).all() == []


def test_architectures_without_weights_and_malformed_teachers_are_refused(api: Api, weights_caches) -> None:
    error = assert_error(api.post_job(init="pretrained"), 422, "no_pretrained_weights", "init")
    assert "resnet8 has no pretrained weights" in error["message"]
    teacher = {"arch": "resnet32", "pretrained": True}
    assert_error(api.post_job(method="kd", teacher=teacher), 422, "no_pretrained_weights", "teacher.arch")
    error = assert_error(api.post_job(method="kd", teacher={"pretrained": True}), 422, "validation_error", "teacher")
    assert "or 'arch' with pretrained: true" in error["message"]
    error = assert_error(api.post_job(method="kd", teacher={"arch": "tv/resnet18"}), 422, "validation_error", "teacher")
    assert "'pretrained': true goes with 'arch'" in error["message"]
    both = {"arch": "tv/resnet18", "pretrained": True, "job": "job_x"}
    assert_error(api.post_job(method="kd", teacher=both), 422, "validation_error", "teacher")
    error = assert_error(api.post_job(init="imagenet"), 422, "validation_error")
    assert "scratch" in error["message"] and "pretrained" in error["message"]


def test_a_pretrained_imagenet_teacher_must_fit_the_datasets_classes(api: Api, weights_caches) -> None:
    write_torchvision_weights("resnet18")
    teacher = {"arch": "tv/resnet18", "pretrained": True}
    error = assert_error(api.post_job(method="kd", teacher=teacher), 422, "invalid_spec", "teacher")
    assert "predicts the 1000 classes" in error["message"] and "digits" not in error["message"]
    assert "init 'pretrained'" in error["message"]


def test_a_pretrained_student_is_accepted_and_its_spec_keeps_init(api: Api, weights_caches) -> None:
    write_timm_weights(weights_caches.hf_hub, "timm/test_resnet")
    job = api.create_job(student="timm/test_resnet", init="pretrained", image_size=32)
    assert job["spec"]["init"] == "pretrained" and job["spec"]["student"] == "timm/test_resnet"
    plain = api.create_job()
    assert plain["spec"]["init"] == "scratch"
    with api.session() as session:
        assert "init" not in session.get(Job, plain["id"]).spec  # stored specs read as they always have


def test_a_warm_start_needs_weights_of_the_students_architecture(api: Api, weights_caches) -> None:
    model = upload(api, save(create_model("resnet8", 10).state_dict()), arch="resnet8", num_classes="10").json()
    job = api.create_job(init={"model": model["id"]})
    assert job["spec"]["init"] == {"model": model["id"]}
    error = assert_error(
        api.post_job(student="resnet14", init={"model": model["id"]}), 422, "init_mismatch", "init.model"
    )
    assert "resnet8" in error["message"] and "resnet14" in error["message"]
    assert_error(api.post_job(init={"model": model["id"]}, token=api.other_token), 404, "not_found", "init.model")
    error = assert_error(api.post_job(init={"job": job["id"]}), 409, "job_not_succeeded", "init.job")
    assert "queued" in error["message"]


def test_submission_leaves_the_check_to_the_workers_where_the_api_holds_no_weights(
    sdd_env, sqlite_template, weights_caches
) -> None:
    settings = sqlite_settings(sdd_env, sqlite_template, check_weights_at_submit="false")
    for api in make_api(settings):
        job = api.create_job(student="tv/resnet18", init="pretrained", image_size=32)
        assert job["status"] == "queued"
