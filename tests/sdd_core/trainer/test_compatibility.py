import pytest

from sdd_core.errors import SpecError
from sdd_core.trainer.compatibility import check_architectures, feature_map_size


def _check(**overrides):
    args = dict(method="sd-kd", scales=[1, 2, 4], student="resnet8x4", teacher_arch="resnet32x4",
                num_classes=10, teacher_num_classes=10, image_size=32)
    args.update(overrides)
    check_architectures(**args)


def test_a_paper_pair_passes():
    _check()


def test_feature_map_sizes_on_cifar_input():
    assert feature_map_size("resnet8x4", 100, 32) == (8, 8)
    assert feature_map_size("vgg8", 100, 32) == (4, 4)
    assert feature_map_size("mobilenetv2", 100, 32) == (2, 2)


def test_class_count_mismatch_names_the_teacher():
    with pytest.raises(SpecError) as info:
        _check(teacher_num_classes=100)
    assert info.value.field == "teacher" and "100" in str(info.value)


def test_scale_larger_than_the_student_map_is_refused():
    with pytest.raises(SpecError) as info:
        _check(student="mobilenetv2")
    assert info.value.field == "scales" and "2x2" in str(info.value)


def test_scale_larger_than_the_teacher_map_is_refused():
    with pytest.raises(SpecError) as info:
        _check(teacher_arch="vgg13", scales=[1, 8])
    assert info.value.field == "scales" and "vgg13" in str(info.value)


def test_non_sd_methods_ignore_scales():
    _check(method="kd", student="mobilenetv2")


def test_model_without_pooled_linear_head_is_refused_for_sd():
    with pytest.raises(SpecError) as info:
        _check(teacher_arch="tv/mobilenet_v3_small", image_size=64)
    assert info.value.field == "teacher" and "cannot be used with sd-kd" in str(info.value)
