"""Accuracy against cost in a sweep's report: which student to ship. Pure functions over plain numbers.

Input: per configuration, its label, student, accuracy (the number the report compares
configurations on: today the mean final val top-1 over seeds) and its succeeded members' results,
whose ``cost`` block the worker recorded (``sdd_core.cost``: parameters, FLOPs per image, latency).

Per configuration (``CostPoint``): parameters and FLOPs per image (the student's; equal across
seeds), and the median latencies the members measured, onnxruntime on the CPU and PyTorch on CUDA
at batch 1 and 64, each the mean over seeds. *The* latency of the frontier and of ``within`` is
the CPU's at batch 1 (``LATENCY``): every worker measures it, with one fixed thread.

Pareto frontier (``pareto_frontier``): a configuration is on it when no other is at least as
accurate and at least as cheap and strictly better in one of the two; drawn once against latency
and once against parameters.

``within`` (``fastest_within``): the configuration with the lowest latency among those whose
accuracy is at most ``within`` points below the teacher's top-1 (the members' ``teacher_test_top1``,
the teacher evaluated on their test split, when every one recorded it; else ``teacher_val_top1``, on
their validation split); ties go to the more accurate one. None is
named when no configuration is that close.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import Field

LATENCY = ("cpu", 1)
"""(device, batch) of the latency the frontier and ``within`` use."""
LATENCY_TEXT = "onnxruntime on the CPU, 1 thread, batch 1: median ms per image"
TOLERANCE = 1e-9  # points: 92.3 − 1.0 is 91.3 even in floating point


@dataclass(frozen=True)
class ConfigurationCosts:
    """What ``cost_report`` reads of one configuration."""

    label: str
    student: str
    accuracy: float | None
    results: Sequence[Mapping[str, Any]]  # its succeeded members' results


@dataclass(frozen=True)
class CostPoint:
    """One configuration's accuracy and what its student costs to run."""

    configuration: str
    student: str
    top1: Annotated[float | None, Field(description="The accuracy compared (CostReport.accuracy), percent.")]
    measured: Annotated[int, Field(description="Members whose cost was recorded (the latencies' n).")]
    parameters: int | None
    flops_per_image: Annotated[float | None, Field(description="PyTorch's FLOP count of one image.")]
    cpu_batch1_ms: Annotated[float | None, Field(description="onnxruntime, CPU, batch 1: median ms, mean over seeds.")]
    cpu_batch64_ms: float | None
    cuda_batch1_ms: Annotated[float | None, Field(description="PyTorch on the GPU: null where none was used.")]
    cuda_batch64_ms: float | None
    on_latency_frontier: bool
    on_parameters_frontier: bool


@dataclass(frozen=True)
class WithinAnswer:
    """The fastest configuration no more than ``within`` points below the teacher, or why there is none."""

    within: float
    teacher_top1: float | None
    configuration: Annotated[
        str | None, Field(description="The configuration's label; null when none is close enough.")
    ]
    student: str | None
    top1: float | None
    latency_ms: float | None
    text: Annotated[
        str,
        Field(examples=["sd-kd, resnet8: 0.042 ms per image, 91.20% top-1, 0.80 points below the teacher's 92.00%"]),
    ]


@dataclass(frozen=True)
class CostReport:
    """Accuracy against latency and parameters, the Pareto frontiers and the answer to ``within``."""

    available: bool
    note: str | None
    accuracy: Annotated[str, Field(examples=["final val top-1"])]
    latency: Annotated[str, Field(description="Which latency the frontier and within use.")]
    hardware: Annotated[list[str], Field(description="Where those latencies were measured (CPU model names).")]
    teacher_top1: Annotated[float | None, Field(description="The teacher's top-1 on the members' split, percent.")]
    teacher_split: Annotated[
        str | None, Field(description="The split of teacher_top1: test when every member recorded it, else val.")
    ]
    points: list[CostPoint]
    within: Annotated[WithinAnswer | None, Field(description="Null unless the report was asked for ?within=.")]


# ---------------------------------------------------------------- pure rules


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (cost, accuracy) pairs, lower cost and higher accuracy better: whether each is on the frontier.

    A point is off it when another costs no more, is no less accurate, and is better in one of the
    two; equal points are all on it.
    """
    return [
        not any(c <= cost and a >= accuracy and (c < cost or a > accuracy) for c, a in points)
        for cost, accuracy in points
    ]


def fastest_within(points: Sequence[tuple[float, float]], teacher_top1: float, within: float) -> int | None:
    """The index of the cheapest (cost, accuracy) pair at most ``within`` points below ``teacher_top1``
    (ties: the more accurate, then the first); None when none is."""
    close = [i for i, (_, accuracy) in enumerate(points) if teacher_top1 - accuracy <= within + TOLERANCE]
    if not close:
        return None
    return min(close, key=lambda i: (points[i][0], -points[i][1], i))


# ---------------------------------------------------------------- the report's part


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _latencies(cost: Mapping[str, Any], device: str, batch: int) -> list[Mapping[str, Any]]:
    entries = cost.get("latency")
    return [
        e
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, Mapping) and e.get("device") == device and e.get("batch") == batch
    ]


def _latency_ms(cost: Mapping[str, Any], device: str, batch: int) -> float | None:
    return next((_number(e.get("median_ms")) for e in _latencies(cost, device, batch)), None)


def _point(configuration: ConfigurationCosts) -> CostPoint:
    costs = [c for r in configuration.results if isinstance(c := r.get("cost"), Mapping)]
    parameters = next((int(p) for c in costs if (p := _number(c.get("parameters"))) is not None), None)

    def latency(device: str, batch: int) -> float | None:
        return _mean([_latency_ms(c, device, batch) for c in costs])

    return CostPoint(
        configuration=configuration.label,
        student=configuration.student,
        top1=configuration.accuracy,
        measured=len(costs),
        parameters=parameters,
        flops_per_image=_mean([_number(c.get("flops_per_image")) for c in costs]),
        cpu_batch1_ms=latency("cpu", 1),
        cpu_batch64_ms=latency("cpu", 64),
        cuda_batch1_ms=latency("cuda", 1),
        cuda_batch64_ms=latency("cuda", 64),
        on_latency_frontier=False,
        on_parameters_frontier=False,
    )


def _frontier_flags(points: Sequence[CostPoint], cost_of: Callable[[CostPoint], float | None]) -> list[bool]:
    measured: list[tuple[int, float, float]] = []
    for index, point in enumerate(points):
        cost = cost_of(point)
        if cost is not None and point.top1 is not None:
            measured.append((index, cost, point.top1))
    flags = [False] * len(points)
    for (index, _, _), on in zip(measured, pareto_frontier([(c, a) for _, c, a in measured]), strict=True):
        flags[index] = on
    return flags


def _with_frontiers(points: list[CostPoint]) -> list[CostPoint]:
    latency = _frontier_flags(points, lambda p: p.cpu_batch1_ms)
    size = _frontier_flags(points, lambda p: None if p.parameters is None else float(p.parameters))
    return [
        replace(point, on_latency_frontier=on_latency, on_parameters_frontier=on_size)
        for point, on_latency, on_size in zip(points, latency, size, strict=True)
    ]


def _named(point: CostPoint) -> str:
    """``resnet8 (sd-kd, β 2)``; the label alone when it already names the student."""
    return point.configuration if point.student in point.configuration else f"{point.student} ({point.configuration})"


def _gap_text(top1: float, teacher: float) -> str:
    gap = teacher - top1
    return f"{abs(gap):.2f} points {'below' if gap >= 0 else 'above'} the teacher's {teacher:.2f}%"


def answer_within(points: Sequence[CostPoint], teacher_top1: float | None, within: float) -> WithinAnswer:
    """The fastest configuration at most ``within`` points below ``teacher_top1`` (rules in the module docstring)."""

    def answer(text: str, point: CostPoint | None = None) -> WithinAnswer:
        if point is None:
            return WithinAnswer(within, teacher_top1, None, None, None, None, text)
        return WithinAnswer(
            within, teacher_top1, point.configuration, point.student, point.top1, point.cpu_batch1_ms, text
        )

    if teacher_top1 is None:
        return answer(
            "no teacher top-1 to compare with: no finished member recorded its teacher's (teacher_test_top1 or "
            "teacher_val_top1); "
            "a sweep whose members have a teacher records it"
        )
    timed = [p for p in points if p.cpu_batch1_ms is not None and p.top1 is not None]
    if not timed:
        return answer("no finished member recorded its CPU latency yet (result.cost)")
    pairs = [(p.cpu_batch1_ms or 0.0, p.top1 or 0.0) for p in timed]
    chosen = fastest_within(pairs, teacher_top1, within)
    if chosen is None:
        closest = max(timed, key=lambda p: p.top1 or 0.0)
        return answer(
            f"no student is within {within:g} point{'' if within == 1 else 's'} of the teacher's {teacher_top1:.2f}% top-1 "
            f"(closest: {_named(closest)}, {teacher_top1 - (closest.top1 or 0.0):.2f} points below)"
        )
    point = timed[chosen]
    return answer(
        f"{_named(point)}: {point.cpu_batch1_ms:.3f} ms per image on the CPU, {point.top1:.2f}% top-1, "
        f"{_gap_text(point.top1 or 0.0, teacher_top1)}",
        point,
    )


def teacher_accuracy(results: Sequence[Mapping[str, Any]]) -> tuple[str | None, float | None]:
    """(split, mean top-1) of the members' teacher: test when every result with a teacher recorded it, else val."""
    recorded = [
        r
        for r in results
        if _number(r.get("teacher_val_top1")) is not None or _number(r.get("teacher_test_top1")) is not None
    ]
    tests = [_number(r.get("teacher_test_top1")) for r in recorded]
    if recorded and all(t is not None for t in tests):
        return "test", _mean(tests)
    top1 = _mean([_number(r.get("teacher_val_top1")) for r in recorded])
    return ("val", top1) if top1 is not None else (None, None)


def cost_report(
    configurations: Sequence[ConfigurationCosts], *, accuracy: str, within: float | None = None
) -> CostReport:
    """The report's ``cost`` part: one point per configuration, frontiers marked, ``within`` answered if asked."""
    points = _with_frontiers([_point(c) for c in configurations])
    results = [r for c in configurations for r in c.results]
    teacher_split, teacher_top1 = teacher_accuracy(results)
    hardware = sorted(
        {
            str(e.get("hardware"))
            for r in results
            if isinstance(cost := r.get("cost"), Mapping)
            for e in _latencies(cost, *LATENCY)
        }
    )
    notes = []
    if not any(p.measured for p in points):
        notes.append("not available: no finished member recorded its cost (result.cost)")
    elif len(hardware) > 1:
        notes.append(f"latencies were measured on {len(hardware)} different CPUs: compare them with care")
    if teacher_split is not None and teacher_split not in accuracy.split():
        notes.append(f"the teacher's top-1 is on {teacher_split}, the students' {accuracy}: compare them with care")
    return CostReport(
        available=any(p.measured for p in points),
        note="; ".join(notes) or None,
        accuracy=accuracy,
        latency=LATENCY_TEXT,
        hardware=hardware,
        teacher_top1=teacher_top1,
        teacher_split=teacher_split,
        points=points,
        within=answer_within(points, teacher_top1, within) if within is not None else None,
    )
