import pytest
from safetensors.torch import save_file

from sdd_core.errors import SpecError, TeacherError
from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainOptions, check_compatibility
from sdd_core.trainer.compatibility import check_architectures, feature_map_size


def _check(**overrides):
    args = dict(
        method="sd-kd",
        scales=[1, 2, 4],
        student="resnet8x4",
        teacher_arch="resnet32x4",
        num_classes=10,
        teacher_num_classes=10,
        image_size=32,
    )
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


def _teacher_file(path, classes):
    model = create_model("resnet8", classes)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return {"arch": "resnet8", "checkpoint": str(path)}


def test_check_compatibility_passes_a_trainable_spec_and_describes_its_dataset(data_root, tmp_path):
    spec = JobSpec(
        dataset="digits", student="resnet8", method="sd-kd", teacher=_teacher_file(tmp_path / "t.safetensors", 10)
    )
    info = check_compatibility(spec, TrainOptions(data_root=data_root))
    assert info.num_classes == 10


def test_check_compatibility_refuses_what_train_would_fail_on(data_root, tmp_path):
    options = TrainOptions(data_root=data_root)
    spec = JobSpec(
        dataset="digits",
        student="mobilenetv2",
        method="sd-kd",
        scales=[1, 2, 4],
        teacher=_teacher_file(tmp_path / "t10.safetensors", 10),
    )
    with pytest.raises(SpecError) as info:
        check_compatibility(spec, options)
    assert info.value.field == "scales"
    spec = JobSpec(
        dataset="digits", student="resnet8", method="kd", teacher=_teacher_file(tmp_path / "t7.safetensors", 7)
    )
    with pytest.raises(SpecError) as info:
        check_compatibility(spec, options)
    assert info.value.field == "teacher"
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="kd",
        teacher={"arch": "resnet8", "checkpoint": str(tmp_path / "absent.safetensors")},
    )
    with pytest.raises(TeacherError, match="does not exist"):
        check_compatibility(spec, options)
