"""Accuracy against cost in a sweep's report: the Pareto frontier and ``within`` on constructed examples."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from domain.sweeps.sweep_cost import fastest_within, pareto_frontier, teacher_accuracy
from domain.sweeps.sweep_report import MemberRecord, build_report
from tests.domain.test_sweep_report import spec


def test_the_pareto_frontier_of_a_constructed_example() -> None:
    """(cost, accuracy): lower cost and higher accuracy are better.

    a (1, 80)  on: the cheapest
    b (2, 85)  on
    c (3, 84)  off: b is cheaper and more accurate
    d (4, 90)  on: the most accurate
    e (4, 89)  off: d costs the same and is more accurate
    f (5, 90)  off: d is as accurate and cheaper
    g (2, 85)  on: equal to b, neither dominates the other
    """
    points = [(1, 80), (2, 85), (3, 84), (4, 90), (4, 89), (5, 90), (2, 85)]
    assert pareto_frontier(points) == [True, True, False, True, False, False, True]
    assert pareto_frontier([]) == [] and pareto_frontier([(7, 50)]) == [True]


def test_within_picks_the_fastest_close_enough() -> None:
    """Teacher 92.0. (latency, top-1): a 0.5 ms / 89.0, b 1.0 ms / 91.0, c 2.0 ms / 91.5, d 4.0 ms / 92.5."""
    points = [(0.5, 89.0), (1.0, 91.0), (2.0, 91.5), (4.0, 92.5)]
    assert fastest_within(points, 92.0, 1.0) == 1  # b: exactly 1.0 below counts
    assert fastest_within(points, 92.0, 0.5) == 2  # c
    assert fastest_within(points, 92.0, 0.0) == 3  # d: above the teacher
    assert fastest_within(points, 92.0, 3.0) == 0  # a: 3.0 below
    assert fastest_within(points, 92.3, 1.0) == 2  # 92.3 - 91.3 in floating point is not above 1.0
    assert fastest_within(points[:2], 95.0, 1.0) is None
    assert fastest_within([(1.0, 90.0), (1.0, 91.0)], 92.0, 2.0) == 1  # a tie in latency: the more accurate


def cost_result(top1: float, *, params: int, ms: float, teacher: float | None = 92.0, cuda_ms: float | None = None,
                hardware: str = "AMD EPYC 7B13 (16 logical CPUs)") -> dict[str, Any]:  # fmt: skip
    """A member's result as the worker records it: top-1, the teacher's, and ``cost`` (``sdd_core.cost``)."""
    latency: list[dict[str, Any]] = [
        {"device": "cpu", "batch": 1, "median_ms": ms, "repeats": 50, "warmup": 2, "runtime": "onnxruntime 1.22.0",
         "hardware": hardware, "threads": 1},
        {"device": "cpu", "batch": 64, "median_ms": 40 * ms, "repeats": 10, "warmup": 2, "runtime": "onnxruntime 1.22.0",
         "hardware": hardware, "threads": 1},
    ]  # fmt: skip
    if cuda_ms is not None:
        latency.append({"device": "cuda", "batch": 1, "median_ms": cuda_ms, "repeats": 50, "warmup": 2,
                        "runtime": "torch", "hardware": "NVIDIA H100", "threads": None})  # fmt: skip
    cost = {"parameters": params, "flops_per_image": 10 * params, "image_size": 32, "latency": latency, "skipped": {}}
    return {"val_top1": top1, "best_val_top1": top1, "cost": cost, "teacher_val_top1": teacher}


# Teacher 92.0. Per student, two seeds: (top-1s, CPU ms, parameters); means resnet8 89.5 / 0.5 ms,
# resnet14 91.0 / 1.0 ms, resnet20 91.25 / 1.5 ms, resnet32 91.0 / 2.5 ms (off both frontiers:
# resnet14 is as accurate, faster and smaller).
STUDENTS = {
    "resnet8": ((89.0, 90.0), (0.45, 0.55), 78_042),
    "resnet14": ((90.5, 91.5), (0.9, 1.1), 174_906),
    "resnet20": ((91.0, 91.5), (1.5, 1.5), 272_474),
    "resnet32": ((91.0, 91.0), (2.5, 2.5), 466_906),
}


def costed(job_id: str, student: str, seed: int, top1: float, **cost: Any) -> MemberRecord:
    return MemberRecord(job_id, spec("kd", seed, student=student), "succeeded", cost_result(top1, **cost), 10.0, [])


def student_sweep(**kwargs: Any) -> list[MemberRecord]:
    return [
        costed(f"job_{student}_{seed}", student, seed, top1s[seed], params=params, ms=mss[seed], **kwargs)
        for student, (top1s, mss, params) in STUDENTS.items()
        for seed in (0, 1)
    ]


def test_the_report_s_cost_part_with_within() -> None:
    report = build_report("swp_1", "succeeded", student_sweep(), within=1.0)
    cost = report.cost
    assert cost.available and cost.note is None and cost.accuracy == "final val top-1"
    assert cost.teacher_top1 == 92.0 and cost.hardware == ["AMD EPYC 7B13 (16 logical CPUs)"]
    points = {p.student: p for p in cost.points}
    assert points["resnet14"].top1 == pytest.approx(91.0) and points["resnet14"].cpu_batch1_ms == pytest.approx(1.0)
    assert points["resnet14"].cpu_batch64_ms == pytest.approx(40.0) and points["resnet14"].cuda_batch1_ms is None
    assert points["resnet8"].parameters == 78_042 and points["resnet8"].flops_per_image == 780_420
    assert points["resnet8"].measured == 2 and points["resnet8"].configuration == "kd, resnet8"
    on_latency = [s for s, p in points.items() if p.on_latency_frontier]
    on_size = [s for s, p in points.items() if p.on_parameters_frontier]
    assert on_latency == on_size == ["resnet8", "resnet14", "resnet20"]
    within = cost.within
    assert within is not None and (within.configuration, within.student) == ("kd, resnet14", "resnet14")
    assert within.top1 == pytest.approx(91.0) and within.latency_ms == pytest.approx(1.0)
    assert (
        within.text
        == "kd, resnet14: 1.000 ms per image on the CPU, 91.00% top-1, 1.00 points below the teacher's 92.00%"
    )
    json.dumps(asdict(report))  # served as it is

    closer = build_report("swp_1", "succeeded", student_sweep(), within=0.75).cost.within
    assert closer is not None and closer.student == "resnet20"
    none = build_report("swp_1", "succeeded", student_sweep(), within=0.5).cost.within
    assert none is not None and none.configuration is None
    assert (
        none.text
        == "no student is within 0.5 points of the teacher's 92.00% top-1 (closest: kd, resnet20, 0.75 points below)"
    )
    assert build_report("swp_1", "succeeded", student_sweep()).cost.within is None  # not asked


def test_without_costs_a_teacher_or_one_cpu_the_report_says_so() -> None:
    bare = [MemberRecord("job_a", spec("kd", 0), "succeeded", {"val_top1": 90.0}, 1.0, [])]
    cost = build_report("swp_1", "succeeded", bare, within=1.0).cost
    assert not cost.available and cost.note == "not available: no finished member recorded its cost (result.cost)"
    assert cost.within is not None and cost.within.configuration is None
    assert cost.within.text.startswith("no teacher top-1 to compare with")

    no_teacher = build_report("swp_1", "succeeded", student_sweep(teacher=None), within=1.0).cost
    assert no_teacher.teacher_top1 is None and no_teacher.within is not None
    assert no_teacher.within.configuration is None

    members = student_sweep()
    members[0] = costed("job_other", "resnet8", 0, 89.0, params=78_042, ms=0.45, hardware="Intel Xeon")
    mixed = build_report("swp_1", "succeeded", members).cost
    assert mixed.note == "latencies were measured on 2 different CPUs: compare them with care"
    assert mixed.hardware == ["AMD EPYC 7B13 (16 logical CPUs)", "Intel Xeon"]


def test_the_teacher_is_compared_on_test_when_every_member_recorded_it_else_val() -> None:
    both = [
        {"teacher_val_top1": 97.0, "teacher_test_top1": 95.0},
        {"teacher_val_top1": 97.0, "teacher_test_top1": 93.0},
    ]
    assert teacher_accuracy(both) == ("test", 94.0)
    assert teacher_accuracy([*both, {"teacher_val_top1": 96.0}]) == ("val", pytest.approx(290 / 3))
    assert teacher_accuracy([{"val_top1": 90.0}]) == (None, None)
