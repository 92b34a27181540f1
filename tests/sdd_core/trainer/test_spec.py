from dataclasses import fields

import pytest
from pydantic import ValidationError

from sdd_core.spec import Hyperparameters, JobSpec, ResolvedHyperparameters, fit_schedule_to_run, method_defaults

TEACHER = {"arch": "resnet32x4", "checkpoint": "/nonexistent.safetensors"}


def _errors(**fields) -> str:
    with pytest.raises(ValidationError) as info:
        JobSpec(**fields)
    return str(info.value)


def test_sd_kd_defaults_come_from_the_paper():
    spec = JobSpec(dataset="digits", student="resnet8x4", method="sd-kd", teacher=TEACHER)
    hp = spec.hyperparameters
    assert (hp.temperature, hp.ce_weight, hp.kd_weight, hp.warmup_epochs) == (4.0, 0.1, 0.9, 0)
    assert (hp.epochs, hp.batch_size, hp.lr, hp.lr_decay_epochs) == (240, 64, 0.05, [150, 180, 210])
    assert spec.scales == [1, 2, 4] and spec.beta == 2.0


@pytest.mark.parametrize("method", ["ce", "kd", "dkd", "nkd"])
def test_a_method_that_is_not_scale_decoupled_carries_no_scales_or_beta(method):
    spec = JobSpec(dataset="digits", student="resnet8", method=method, teacher=None if method == "ce" else TEACHER)
    assert (spec.scales, spec.beta) == (None, None)
    assert not {"scales", "beta"} & set(spec.model_dump(mode="json"))  # nor does its JSON (a card, a checkpoint)


@pytest.mark.parametrize("field, value", [("scales", [1, 2]), ("beta", 4.0)])
def test_scales_or_beta_on_a_method_that_is_not_scale_decoupled_are_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError) as info:
        JobSpec(dataset="digits", student="resnet8", method="kd", teacher=TEACHER, **{field: value})
    (error,) = info.value.errors()
    assert error["loc"] == (field,)
    assert "only the scale-decoupled methods (sd-dkd, sd-kd, sd-nkd), and method 'kd' is not one" in error["msg"]
    assert f"leave {field} out, or choose sd-kd" in error["msg"]


def test_an_sd_spec_keeps_the_scales_and_beta_it_names():
    spec = JobSpec(dataset="digits", student="resnet8", method="sd-dkd", teacher=TEACHER, scales=[1, 2], beta=0.0)
    assert (spec.scales, spec.beta) == ([1, 2], 0.0)
    assert JobSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_dkd_defaults_and_per_pair_overrides():
    spec = JobSpec(
        dataset="digits",
        student="resnet20",
        method="sd-dkd",
        teacher={"arch": "resnet56", "checkpoint": "x.safetensors"},
    )
    assert spec.hyperparameters.dkd_beta == 2.0
    assert spec.hyperparameters.warmup_epochs == 20
    assert method_defaults("dkd", "resnet8x4", "resnet32x4")["dkd_beta"] == 8.0


def test_a_short_run_gets_the_recipe_s_schedule_scaled_to_it():
    """The paper's milestones (150/180/210 of 240) and DKD's 20-epoch warm-up at the same
    fractions of a shorter run; what a job states is kept as stated."""

    def hp(method: str, **given: object):
        teacher = None if method == "ce" else TEACHER
        return JobSpec(dataset="digits", student="resnet8", method=method, teacher=teacher, hyperparameters=given)

    assert hp("ce", epochs=20).hyperparameters.lr_decay_epochs == [12, 15, 18]
    assert hp("ce", epochs=10).hyperparameters.lr_decay_epochs == [6, 8, 9]
    assert hp("ce", epochs=2).hyperparameters.lr_decay_epochs == [1]  # milestones that meet merge
    assert hp("ce", epochs=300).hyperparameters.lr_decay_epochs == [150, 180, 210]
    dkd = hp("sd-dkd", epochs=24).hyperparameters
    assert (dkd.lr_decay_epochs, dkd.warmup_epochs) == ([15, 18, 21], 2)
    stated = hp("sd-dkd", epochs=24, lr_decay_epochs=[30], warmup_epochs=5).hyperparameters
    assert (stated.lr_decay_epochs, stated.warmup_epochs) == ([30], 5)
    assert fit_schedule_to_run(method_defaults("kd"), 240) == method_defaults("kd")


def test_low_lr_for_shufflenet_and_mobilenet_students():
    spec = JobSpec(dataset="digits", student="shufflenetv2", method="kd", teacher=TEACHER)
    assert spec.hyperparameters.lr == 0.01


def test_given_values_win_over_defaults():
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="sd-nkd",
        teacher=TEACHER,
        hyperparameters={"epochs": 3, "nkd_mode": "code"},
    )
    assert spec.hyperparameters.epochs == 3 and spec.hyperparameters.nkd_mode == "code"
    assert spec.hyperparameters.nkd_gamma == 8.0


def test_unknown_student_suggests_close_names_not_the_whole_zoo():
    message = _errors(dataset="digits", student="resnet_8", method="ce")
    assert "student" in message and "did you mean 'resnet8'" in message
    assert "wrn_40_2" not in message and "known; the catalog lists them" in message
    far = _errors(dataset="digits", student="zzzz", method="ce")
    assert "did you mean" not in far and "unknown architecture 'zzzz'" in far


def test_unknown_method_suggests_the_close_one_and_lists_the_few_allowed():
    message = _errors(dataset="digits", student="resnet8", method="sdkd")
    assert "method" in message and "did you mean 'sd-kd'" in message
    assert "allowed: ce, kd, dkd, nkd, sd-kd, sd-dkd, sd-nkd" in message


def test_unknown_keys_are_refused_at_every_level():
    assert "colour" in _errors(dataset="digits", student="resnet8", method="ce", colour="red")
    assert "learning_rate" in _errors(
        dataset="digits", student="resnet8", method="ce", hyperparameters={"learning_rate": 0.1}
    )


@pytest.mark.parametrize(
    "scales, needle", [([], "at least one"), ([0, 1], ">= 1"), ([1, 2, 2], "repeat"), ([2, 4], "first scale must be 1")]
)
def test_bad_scales(scales, needle):
    assert needle in _errors(dataset="digits", student="resnet8", method="sd-kd", teacher=TEACHER, scales=scales)


def test_sd_method_needs_a_teacher_and_ce_refuses_one():
    assert "teacher" in _errors(dataset="digits", student="resnet8", method="sd-kd")
    assert "trains without a teacher" in _errors(dataset="digits", student="resnet8", method="ce", teacher=TEACHER)


@pytest.mark.parametrize(
    "hyper, field",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1}, "lr"),
        ({"lr_decay_epochs": [5, 3]}, "lr_decay_epochs"),
        ({"nkd_mode": "both"}, "nkd_mode"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_hyperparameters_name_the_field(hyper, field):
    assert field in _errors(dataset="digits", student="resnet8", method="ce", hyperparameters=hyper)


def test_unknown_dataset():
    assert "imagefolder:<path>" in _errors(dataset="mnist", student="resnet8", method="ce")


def test_resolved_hyperparameters_carry_every_hyperparameter_with_its_value():
    assert [f.name for f in fields(ResolvedHyperparameters)] == list(Hyperparameters.model_fields)
    spec = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters={"lr_decay_epochs": [3, 5]})
    resolved = spec.resolved_hyperparameters
    assert resolved.lr_decay_epochs == (3, 5) and resolved.epochs == 240 and resolved.kd_weight == 0.0
    with pytest.raises(ValueError, match="epochs"):
        ResolvedHyperparameters.of(Hyperparameters())


@pytest.mark.parametrize(
    "overrides",
    [
        {"beta": float("nan")},
        {"hyperparameters": {"lr": float("inf")}},
        {"hyperparameters": {"temperature": float("-inf")}},
        {"seed": 2**64},
        {"hyperparameters": {"device": "cuda:\u0661"}},
    ],
)
def test_non_finite_numbers_and_out_of_range_values_are_refused(overrides) -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate({"dataset": "digits", "student": "resnet8", "method": "ce", **overrides})
