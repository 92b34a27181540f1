"""``sdd jobs submit`` with pretrained and warm-start weights, datasets and models by name, and devices."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save

from sdd_core.models import create_model
from tests.api.conftest import Api
from tests.api.test_datasets import image_folder, zip_bytes
from tests.fixtures.weights_caches import write_timm_weights
from tests.sdd_client import test_cli
from tests.sdd_client.test_cli import Run
from worker.ingestion import ingest_dataset

cli_env, sdd = test_cli.cli_env, test_cli.sdd  # the fixtures of test_cli, used here too


def _upload_model(sdd: Run, tmp_path: Path, name: str) -> str:
    weights = tmp_path / f"{name}.safetensors"
    weights.write_bytes(save(create_model("resnet8", 2).state_dict()))
    done = sdd("models", "upload", str(weights), "--arch", "resnet8", "--num-classes", "2", "--name", name)
    assert done.exit_code == 0, done.output
    return done.stdout.strip().splitlines()[-1]


def test_init_and_a_pretrained_teacher_from_flags(sdd: Run, weights_caches) -> None:
    write_timm_weights(weights_caches.hf_hub, "timm/test_resnet")
    done = sdd(
        "jobs", "submit", "--json", "--dataset", "digits", "--student", "timm/test_resnet",
        "--method", "ce", "--init", "pretrained", "--image-size", "32",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["spec"]["init"] == "pretrained"

    refused = sdd(
        "jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "ce", "--init", "pretrained"
    )
    assert refused.exit_code == 2
    assert "error [no_pretrained_weights] resnet8 has no pretrained weights" in refused.stderr
    assert refused.stderr.strip().endswith("(--init)")

    teacher = sdd(
        "jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "kd",
        "--teacher-pretrained", "timm/test_resnet",
    )  # fmt: skip
    assert teacher.exit_code == 2 and "--teacher-pretrained" in teacher.stderr
    assert "predicts the 1000 classes" in teacher.stderr
    both = sdd("jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "kd",
               "--teacher-pretrained", "tv/resnet18", "--teacher-job", "job_x")  # fmt: skip
    assert both.exit_code == 2 and "give one of --teacher-job, --teacher-model or --teacher-pretrained" in both.stderr


def test_datasets_and_models_by_name(sdd: Run, api: Api, tmp_path: Path) -> None:
    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(image_folder()))
    uploaded = sdd("datasets", "upload", str(archive), "--name", "pets")
    assert uploaded.exit_code == 0, uploaded.output
    dataset_id = uploaded.stdout.strip().splitlines()[-1]
    ingest_dataset(dataset_id, api.settings)  # as a worker does: jobs name ready datasets only
    model_id = _upload_model(sdd, tmp_path, "pet-teacher")

    done = sdd(
        "jobs", "submit", "--json", "--dataset", "pets", "--student", "resnet8", "--method", "kd",
        "--teacher-model", "pet-teacher", "--image-size", "16",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    spec = json.loads(done.stdout)["spec"]
    assert spec["dataset"] == dataset_id and spec["teacher"]["model"] == model_id

    warm = sdd("jobs", "submit", "--json", "--dataset", "pets", "--student", "resnet8", "--method", "ce",
               "--init", "pet-teacher", "--image-size", "16")  # fmt: skip
    assert warm.exit_code == 0, warm.output
    assert json.loads(warm.stdout)["spec"]["init"]["model"] == model_id

    _upload_model(sdd, tmp_path, "pet-teacher")  # a second model with that name
    ambiguous = sdd("jobs", "submit", "--dataset", "pets", "--student", "resnet8", "--method", "kd",
                    "--teacher-model", "pet-teacher")  # fmt: skip
    assert ambiguous.exit_code == 2 and "2 models are named 'pet-teacher'" in ambiguous.stderr
    unknown = sdd("jobs", "submit", "--dataset", "petz", "--student", "resnet8", "--method", "ce")
    assert unknown.exit_code == 2 and "unknown dataset 'petz'" in unknown.stderr


def test_devices_from_flags(sdd: Run) -> None:
    done = sdd("jobs", "submit", "--json", "--dataset", "digits", "--student", "resnet8", "--method", "ce",
               "--devices", "2", "--sync-batchnorm")  # fmt: skip
    assert done.exit_code == 0, done.output
    spec = json.loads(done.stdout)["spec"]
    assert spec["devices"] == 2 and spec["sync_batchnorm"] is True
    odd = sdd("jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "ce", "--devices", "3")
    assert odd.exit_code == 2 and "does not split over devices=3" in odd.stderr
