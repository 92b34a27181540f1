"""timm architectures as ``timm/<name>``: built on the CPU from timm's small test models, their SD
support measured, their pretrained weights read from a Hugging Face cache the test writes."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from sdd_core.errors import ModelError, WeightsUnavailableError
from sdd_core.models import create_model, pretrained_weights_of, require_pretrained_weights, sd_support, timm_zoo
from sdd_core.spec import JobSpec
from tests.fixtures.weights_caches import write_timm_weights


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, empty Hugging Face hub cache (the loader reads HF_HUB_CACHE on every call)."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    yield tmp_path / "hf"


@pytest.mark.parametrize("name", ["timm/test_resnet", "timm/test_efficientnet"])
def test_pooled_linear_heads_are_sd_capable_and_keep_timms_forward(name: str) -> None:
    assert sd_support(name) is None
    torch.manual_seed(0)
    model = create_model(name, 10).eval()
    images = torch.randn(2, 3, 64, 64)
    features = model.forward_features(images)
    assert features.ndim == 4 and features.shape[:2] == (2, model.get_classifier().in_features)
    with torch.no_grad():
        torch.testing.assert_close(model(images), model.net(images))
        torch.testing.assert_close(model(images), model.get_classifier()(features.mean((2, 3))))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("timm/test_vit", "(tokens), not a feature map"),
        ("timm/test_convnext", "does more than global average pooling + one Linear"),
    ],
)
def test_other_heads_are_refused_for_sd_with_the_reason_but_train_for_kd(name: str, reason: str) -> None:
    message = sd_support(name)
    assert message is not None and message.startswith(name) and reason in message
    model = create_model(name, 10).eval()
    images = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        torch.testing.assert_close(model(images), model.net(images))
    assert model.get_classifier().out_features == 10


def test_unknown_timm_names_get_close_names_not_the_whole_list() -> None:
    with pytest.raises(ModelError) as caught:
        create_model("timm/test_resnt", 10)
    message = str(caught.value)
    assert "did you mean 'timm/test_resnet'" in message and "timm.list_models()" in message
    with pytest.raises(ModelError, match="weights tag"):
        create_model("timm/test_resnet.no_such_tag", 10)
    with pytest.raises(ValueError, match="unknown timm architecture"):
        JobSpec(dataset="digits", student="timm/nope_net", method="ce")


def test_missing_weights_name_the_file_and_the_repository(hf_cache: Path) -> None:
    weights = pretrained_weights_of("timm/test_resnet")
    assert weights is not None and weights.file is None and weights.num_classes == 1000
    with pytest.raises(WeightsUnavailableError) as caught:
        create_model("timm/test_resnet", 10, pretrained=True)
    message = str(caught.value)
    assert str(hf_cache / "models--timm--test_resnet.r160_in1k" / "snapshots") in message
    assert "hf download timm/test_resnet.r160_in1k model.safetensors" in message
    assert pretrained_weights_of("resnet8") is None
    with pytest.raises(ModelError, match="resnet8 has no pretrained weights"):
        require_pretrained_weights("resnet8")


def test_pretrained_weights_load_from_the_cache_with_a_fresh_head_for_other_classes(hf_cache: Path) -> None:
    stored = write_timm_weights(hf_cache, "timm/test_resnet")
    weights = pretrained_weights_of("timm/test_resnet")
    assert weights is not None and weights.file is not None and weights.file.is_file()

    same = create_model("timm/test_resnet", 1000, pretrained=True).net.state_dict()
    for key, tensor in stored.items():
        torch.testing.assert_close(same[key], tensor, rtol=0, atol=0)
    other = create_model("timm/test_resnet", 10, pretrained=True).net.state_dict()
    assert other["fc.weight"].shape == (10, stored["fc.weight"].shape[1])
    for key, tensor in stored.items():
        if not key.startswith("fc."):
            torch.testing.assert_close(other[key], tensor, rtol=0, atol=0)


def test_the_sd_probe_of_a_huge_model_builds_nothing_real(tmp_path):
    """vit_huge_patch14_clip_224 (632 M parameters) once cost an API process 40 s and 2.2 GB, kept:
    its SD support is now read from a meta-device build, in a fresh process whose peak memory we read."""
    script = (
        "import resource, torch\n"
        "from sdd_core.models import timm_zoo\n"
        "timm_zoo.check_name('timm/resnet18')  # timm imported, its registry read\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "reason = timm_zoo.sd_unsupported_reason('timm/vit_huge_patch14_clip_224')\n"
        "grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024\n"
        "print(grown, reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    grown, reason = done.stdout.split(" ", 1)
    assert "(tokens), not a feature map" in reason
    assert int(grown) < 400, f"the probe grew the process by {grown} MB"  # its weights alone are 2.5 GB


def test_weights_tags_share_their_architectures_probe():
    timm_zoo._arch_reason.cache_clear()
    assert timm_zoo.sd_unsupported_reason("timm/test_resnet") is None
    assert timm_zoo.sd_unsupported_reason("timm/test_resnet.r160_in1k") is None
    assert timm_zoo._arch_reason.cache_info().misses == 1  # one probe for both names
    reason = timm_zoo.sd_unsupported_reason("timm/test_vit.r160_in1k")
    assert reason is not None and reason.startswith("timm/test_vit.r160_in1k:")  # named as the caller wrote it
