"""Which data path a job takes: device-resident for small images under the cap, else the loader."""

import torch

from sdd_core.spec import JobSpec
from sdd_core.trainer.data_path import choose_path, device_data_cap, prepare_data
from sdd_core.trainer.loop import _same_job
from sdd_core.trainer.options import TrainOptions

CPU = torch.device("cpu")


def test_small_images_under_the_cap_live_on_the_device():
    assert choose_path("cifar", 100, 1000)[0] == "device"
    path, reason = choose_path("cifar", 2000, 1000)
    assert path == "loader" and "over the device-resident cap" in reason
    assert choose_path("imagenet", 1, 1000) == (
        "loader",
        "large images (the ImageNet pipeline decodes and crops each file)",
    )
    assert choose_path("cifar", 100, 1000, prefer="loader")[0] == "loader"  # a resumed loader run stays there
    assert choose_path("cifar", 2000, 1000, prefer="device")[0] == "loader"
    assert device_data_cap(CPU, 123) == 123 and device_data_cap(CPU, None) > 1 << 20


def test_prepare_data_builds_the_chosen_path(tmp_path):
    spec = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters={"batch_size": 100})
    hp = spec.resolved_hyperparameters
    common = {"image_size": 16, "seed": 0, "device": CPU, "memory_format": torch.contiguous_format}
    device = prepare_data("digits", hp, options=TrainOptions(data_root=tmp_path), **common)
    assert device.path == "device" and len(device.train) == 15 and device.val.batch_size == 256
    assert device.describe()["augmentation"] == {"flip": False, "crop_padding": 2, "crop_scale_min": 0.08}
    loader = prepare_data("digits", hp, options=TrainOptions(data_root=tmp_path, device_data_max_bytes=0), **common)
    assert loader.path == "loader" and loader.workers == 0 and len(loader.train) == 15
    images, labels = next(iter(loader.val.batches()))
    assert images.shape == (100, 3, 16, 16) and labels.shape == (100,)


def test_a_checkpoint_written_before_a_hyperparameter_existed_still_resumes():
    current = {"dataset": "digits", "hyperparameters": {"epochs": 3, "flip": False, "crop_scale_min": 0.08}}
    assert _same_job({"dataset": "digits", "hyperparameters": {"epochs": 3}}, current)
    assert not _same_job({"dataset": "digits", "hyperparameters": {"epochs": 4}}, current)
    assert not _same_job({"dataset": "digits", "hyperparameters": {"epochs": 3, "flip": True}}, current)


def test_a_non_sd_checkpoint_written_when_its_spec_carried_scales_and_beta_still_resumes():
    current = {"method": "kd", "hyperparameters": {"epochs": 3}}  # a KD spec's JSON: no scales, no beta
    assert _same_job({"method": "kd", "scales": [1, 2, 4], "beta": 2.0, "hyperparameters": {"epochs": 3}}, current)
    sd = {"method": "sd-kd", "scales": [1, 2], "beta": 2.0, "hyperparameters": {"epochs": 3}}
    assert not _same_job({**sd, "beta": 4.0}, sd)  # an SD job's still count
