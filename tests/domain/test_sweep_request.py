"""A sweep's shape and its expansion into member job requests (``domain.sweeps.sweep_request``), no database."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.errors import InvalidRequest, LimitExceeded
from domain.sweeps.sweep_request import GRID_FIELDS, SweepRequest, expand, member_count

TEACHER = {"job": "job_teacher"}


def sweep(grid: dict[str, Any], **base: Any) -> SweepRequest:
    body = {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher": TEACHER} | base
    return SweepRequest.model_validate({"base": body, "grid": grid})


def error_locations(exc: ValidationError) -> list[tuple[Any, ...]]:
    return [tuple(error["loc"]) for error in exc.errors()]


def test_the_cross_product_in_grid_order_with_the_seed_fastest() -> None:
    members = expand(sweep({"seed": [0, 1], "method": ["kd", "sd-kd"], "scales": [[1, 2], [1, 2, 4]]}), 64)
    assert [m.values for m in members] == [
        {"method": "kd", "seed": 0},
        {"method": "kd", "seed": 1},
        {"method": "sd-kd", "scales": [1, 2], "seed": 0},
        {"method": "sd-kd", "scales": [1, 2], "seed": 1},
        {"method": "sd-kd", "scales": [1, 2, 4], "seed": 0},
        {"method": "sd-kd", "scales": [1, 2, 4], "seed": 1},
    ]
    assert [m.index for m in members] == list(range(6))
    last = members[-1].request
    assert (last.method, last.scales, last.seed, last.dataset, last.teacher.job) == (  # type: ignore[union-attr]
        "sd-kd",
        [1, 2, 4],
        1,
        "digits",
        "job_teacher",
    )
    kd = members[0].request
    assert (kd.scales, kd.beta) == (None, None)  # KD takes none


def test_a_kd_member_leaves_out_the_scales_and_beta_its_base_gives_the_sd_members() -> None:
    members = expand(sweep({"method": ["kd", "sd-kd"], "seed": [0, 1]}, method="sd-kd", scales=[1, 2], beta=4.0), 64)
    shaped = {m.request.method: (m.request.scales, m.request.beta) for m in members}
    assert shaped == {"kd": (None, None), "sd-kd": ([1, 2], 4.0)}


def test_beta_and_scales_make_one_kd_member_per_seed_not_one_per_value() -> None:
    request = sweep({"method": ["kd", "sd-kd"], "beta": [0, 1, 2, 4], "scales": [[1, 2], [1, 2, 4]], "seed": [0, 1, 2]})
    members = expand(request, 64)
    assert member_count(request) == len(members) == 3 + 4 * 2 * 3
    assert sum(m.request.method == "kd" for m in members) == 3
    assert sorted({m.request.beta for m in members if m.request.method == "sd-kd"}) == [0.0, 1.0, 2.0, 4.0]


def test_beta_zero_is_a_member_like_any_other() -> None:
    (member,) = expand(sweep({"beta": [0]}, method="sd-kd"), 64)
    assert member.request.beta == 0.0 and member.values == {"beta": 0.0}


def test_temperature_goes_into_the_hyperparameters_and_other_hyperparameters_stay() -> None:
    members = expand(sweep({"temperature": [2, 8]}, hyperparameters={"epochs": 3}), 64)
    assert [(m.request.hyperparameters.temperature, m.request.hyperparameters.epochs) for m in members] == [
        (2.0, 3),
        (8.0, 3),
    ]


def test_method_and_student_may_be_left_to_the_grid() -> None:
    request = SweepRequest.model_validate(
        {
            "base": {"dataset": "digits", "teacher": TEACHER},
            "grid": {"method": ["sd-kd", "kd"], "student": ["resnet8", "wrn_16_2"]},
        }
    )
    assert (request.base.method, request.base.student) == ("sd-kd", "resnet8")
    assert [(m.request.method, m.request.student) for m in expand(request, 64)] == [
        ("sd-kd", "resnet8"),
        ("sd-kd", "wrn_16_2"),
        ("kd", "resnet8"),
        ("kd", "wrn_16_2"),
    ]


@pytest.mark.parametrize(
    ("grid", "location", "words"),
    [
        ({"lr": [0.1, 0.2]}, ("grid", "lr"), "Extra inputs"),
        ({"seed": []}, ("grid", "seed"), "at least one value"),
        ({"beta": [1, 1.0]}, ("grid", "beta"), "twice"),
        ({"scales": [[1, 2], [1, 2]]}, ("grid", "scales"), "twice"),
        ({"beta": [-1]}, ("grid", "beta", 0), "greater than or equal to 0"),
        ({"method": ["kd", "xkd"]}, ("grid", "method"), "item 1: unknown method 'xkd'"),
        ({}, ("grid",), "at least one field"),
    ],
)
def test_grid_refusals_name_the_field(grid: dict[str, Any], location: tuple[Any, ...], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        sweep(grid, method="sd-kd")
    assert location in error_locations(caught.value)
    assert words in str(caught.value)


def test_a_base_refusal_is_located_in_the_base() -> None:
    with pytest.raises(ValidationError) as caught:
        sweep({"seed": [0, 1]}, hyperparameters={"epochs": 0})
    assert error_locations(caught.value) == [("base", "hyperparameters", "epochs")]


@pytest.mark.parametrize(
    ("grid", "location", "words"),
    [
        ({"method": ["kd", "sd-kd"], "scales": [[2, 4]]}, ("grid", "scales"), "first scale must be 1"),
        ({"method": ["kd", "ce"]}, ("base", "teacher"), "trains without a teacher"),
        ({"student": ["resnet8", "resnet_nope"]}, ("grid", "student"), "unknown architecture"),
        ({"method": ["kd", "sd-kd"], "scales": [[1, 0]]}, ("grid", "scales"), "integer >= 1"),
    ],
)
def test_a_member_that_is_not_a_valid_job_names_the_member_and_the_field(
    grid: dict[str, Any], location: tuple[Any, ...], words: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        expand(sweep(grid), 64)
    assert caught.value.location == location
    assert caught.value.message.startswith("member 2 of 2 (")
    assert words in caught.value.message


def test_sd_only_fields_need_an_sd_method() -> None:
    with pytest.raises(InvalidRequest) as caught:
        expand(sweep({"method": ["kd", "dkd"], "beta": [1, 2]}), 64)
    assert caught.value.location == ("grid", "beta") and "scale-decoupled" in caught.value.message


def test_the_size_limit_counts_members_before_building_any() -> None:
    huge = sweep({"seed": list(range(1000)), "temperature": [float(t) for t in range(1, 1001)]})
    assert member_count(huge) == 1_000_000
    with pytest.raises(LimitExceeded) as caught:
        expand(huge, 64)
    assert caught.value.location == ("grid",) and "1000000 member jobs" in caught.value.message
    assert "limit of 64" in caught.value.message
    assert len(expand(sweep({"seed": list(range(64))}), 64)) == 64


def test_grid_fields_are_the_documented_ones() -> None:
    assert set(GRID_FIELDS) == {"method", "beta", "scales", "temperature", "seed", "student"}


def test_an_unknown_grid_method_gets_did_you_mean_like_a_job_spec() -> None:
    with pytest.raises(ValidationError) as refused:
        sweep({"method": ["kd", "sd-kdd"]})
    (error,) = [e for e in refused.value.errors() if e["loc"] == ("grid", "method")]
    assert error["msg"].endswith(
        "item 1: unknown method 'sd-kdd'; did you mean 'sd-kd', 'sd-nkd', 'sd-dkd'? "
        "(allowed: ce, kd, dkd, nkd, sd-kd, sd-dkd, sd-nkd)"
    )


@pytest.mark.parametrize("name", ["run\x1b[2J", "abc\u202edef", "two\nlines", "   "])
def test_a_sweep_name_follows_a_job_names_rule(name: str) -> None:
    """Control and format characters (ESC, a right-to-left override) were accepted in sweep names
    and printed raw by sdd sweeps list; job names refused them."""
    with pytest.raises(ValidationError) as caught:
        SweepRequest.model_validate({"name": name, "base": _BASE, "grid": {"beta": [1.0]}})
    assert caught.value.errors()[0]["loc"] == ("name",)
    named = SweepRequest.model_validate({"name": "  beta study ", "base": _BASE, "grid": {"beta": [1.0]}})
    assert named.name == "beta study"


_BASE = {"dataset": "digits", "student": "resnet8", "method": "sd-kd", "teacher": {"job": "job_t"}}
