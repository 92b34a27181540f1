"""A sweep's report: which configuration, by how much, how sure. Pure functions over member records.

Input: one ``MemberRecord`` per member (its stored spec, status, result, running time and metrics
rows). Only ``succeeded`` members count in the statistics; the others are counted and named.

Per configuration (a member's spec minus its seed):
- final and best val top-1/top-5: mean ± sample standard deviation (n − 1) over its seeds, and n;
  final = the job's result (its last epoch), best = the best epoch seen;
- final test top-1 (held_out members only: the test split, evaluated once on the exported student);
- an SD configuration's paired gain over its own base method when the sweep has it (sd-kd over
  kd, sd-dkd over dkd, sd-nkd over nkd; else over kd), with the same student and temperature,
  paired by seed: d_s = final top-1 − the base's for each seed both finished, on the *reported*
  split; mean d ± the half-width of the paired 95% confidence interval, t_{0.975, n−1} · s_d / √n
  (``t_quantile_975``); one seed gives no interval. Methods without SD are bases (no gain);
- wall time (the job's ``run_seconds``; the sum of its epochs' ``seconds`` when the worker recorded
  none, as for jobs shorter than one lease heartbeat) and images/s (the mean of its epochs').

Per class, from each member's ``result["per_class"] = {"correct": [...], "total": [...]}`` (and
optionally ``"classes": [names]``), recorded in a job's final evaluation: each member's per-class
accuracy, and the best SD configuration's per-class gain over its base (paired by seed, mean over seeds),
largest first. The confusion matrix (``result["confusion"]``: rows true class, columns predicted)
of the best member (highest final top-1). Members without these keys leave the part "not available".

Choose on validation, report on test. Under protocol held_out the configuration is *chosen* by
its mean final val top-1 (the held-out part of the training split) and its gain is *reported* on
test top-1 when every succeeded member recorded one; under literature (or without test numbers)
val both chooses and reports, and the report says so ("optimistic": the winner's curse).

The recommendation (``recommend``): the SD configurations with at least 2 seeds paired with their
base form one family of paired t tests, corrected by Holm–Bonferroni (``holm_adjusted``; family
size m). The chosen configuration is the SD configuration with the highest mean val top-1; it
*beats its base beyond noise* when Holm rejects "no gain" for it, i.e. its adjusted interval is
above 0. "sd-kd, β 2, scales [1, 2, 4]: +1.30 ± 0.40 over kd on test, 3 seeds (Holm–Bonferroni,
family of 2)"; otherwise it says the chosen one does not beat its base beyond noise; with only
single seeds it says the interval cannot be computed; without a base member, that there is none.

Accuracy against cost (``domain.sweeps.sweep_cost``): each configuration's final val top-1
against its student's latency and parameters, the Pareto frontiers, and with ``within`` the
fastest configuration no more than that many points below the teacher's top-1.

The API serves these dataclasses as they are; ``sdd_client.sweep_report_markdown`` renders the
report as Markdown (on the server for ``?format=markdown``, and on the client).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from pydantic import Field

from domain.status import JobStatus
from domain.sweeps.search_report import SearchReport
from domain.sweeps.sweep_cost import ConfigurationCosts, CostReport, cost_report
from domain.sweeps.sweep_statistics import CORRECTION, PairedGain, Summary, holm_adjusted, paired_gain, summarize
from sdd_core.spec import SD_METHODS, base_loss_of, with_stored_protocol

BASELINE_METHOD = "kd"
ACCURACY = {"val": "final val top-1", "test": "final test top-1"}
"""The accuracy configurations are compared on, by the reported split (final_top1 or test_top1's mean)."""
LITERATURE_NOTE = "protocol: literature (chosen and reported on val: optimistic)"


@dataclass(frozen=True)
class MemberRecord:
    """What the report reads of one member job."""

    job_id: str
    spec: Mapping[str, Any]
    status: str
    result: Mapping[str, Any] | None
    run_seconds: float | None
    metrics: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class ConfigurationReport:
    """One configuration of a sweep (a member's spec minus its seed) over its seeds."""

    label: Annotated[str, Field(examples=["sd-kd, β 2, scales [1, 2, 4]"])]
    method: str
    student: str
    scales: Annotated[list[int] | None, Field(description="SD methods only.")]
    beta: Annotated[float | None, Field(description="SD methods only.")]
    temperature: float | None
    members: Annotated[list[str], Field(description="Member job ids, every seed.")]
    seeds: Annotated[list[int], Field(description="Seeds whose member succeeded (the statistics' n).")]
    final_top1: Summary
    best_top1: Summary
    final_top5: Summary
    best_top5: Summary
    test_top1: Annotated[Summary, Field(description="Final test top-1 (protocol held_out); n 0 otherwise.")]
    wall_seconds: Summary
    images_per_s: Summary
    is_baseline: bool
    baseline: Annotated[
        str | None, Field(description="The base configuration this one is compared with (its own base, else kd).")
    ]
    baseline_method: Annotated[str | None, Field(examples=["dkd"])]
    gain: Annotated[PairedGain | None, Field(description="Over the baseline on the reported split, Holm-corrected.")]


@dataclass(frozen=True)
class Recommendation:
    text: Annotated[str, Field(examples=["sd-kd, β 2, scales [1, 2, 4]: +1.30 ± 0.60 over kd on test, 3 seeds"])]
    configuration: Annotated[str | None, Field(description="The configuration's label it names, if any.")]
    beats_baseline: bool
    protocol: Annotated[str, Field(description="held_out, literature, or mixed (members disagree).")]
    chosen_on: Annotated[str, Field(description="The split the configuration is chosen on: val.")]
    reported_on: Annotated[str, Field(description="The split its gain is reported on: test or val.")]
    correction: Annotated[str, Field(examples=["Holm–Bonferroni"])]
    family_size: Annotated[int, Field(description="SD configurations compared (with at least 2 paired seeds).")]


@dataclass(frozen=True)
class MemberClassAccuracy:
    job_id: str
    configuration: str
    seed: int
    accuracy: Annotated[
        list[float | None], Field(description="Percent correct per class (null for a class without validation images).")
    ]


@dataclass(frozen=True)
class ClassGain:
    index: int
    name: str
    gain: Annotated[float, Field(description="Percentage points over its base, mean over paired seeds.")]
    n: int


@dataclass(frozen=True)
class PerClassReport:
    available: bool
    note: str | None
    classes: list[str]
    members: list[MemberClassAccuracy]
    configuration: Annotated[str | None, Field(description="The SD configuration whose per-class gains are listed.")]
    gains: Annotated[list[ClassGain], Field(description="Largest first.")]


@dataclass(frozen=True)
class ConfusionReport:
    job_id: str
    configuration: str
    seed: int
    val_top1: float | None
    classes: list[str]
    matrix: Annotated[list[list[int]], Field(description="Rows: true class; columns: predicted class.")]


@dataclass(frozen=True)
class SweepReport:
    """Which configuration, by how much, how sure: the sweep's report (``GET /v1/sweeps/{id}/report``)."""

    sweep_id: str
    status: JobStatus
    members: Annotated[dict[str, int], Field(description="Members by status.")]
    configurations: list[ConfigurationReport]
    recommendation: Recommendation
    per_class: PerClassReport
    confusion: ConfusionReport | None
    cost: CostReport
    notes: list[str]
    search: SearchReport | None = None  # a search's trials, rungs and cost (domain.sweeps.search_report)


# ---------------------------------------------------------------- configurations


def member_coordinates(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The grid's fields of a stored spec; β and scales None for methods that do not use them."""
    sd = spec.get("method") in SD_METHODS
    return {
        "method": spec.get("method"),
        "student": spec.get("student"),
        "scales": list(spec.get("scales") or []) if sd else None,
        "beta": spec.get("beta") if sd else None,
        "temperature": (spec.get("hyperparameters") or {}).get("temperature"),
        "seed": spec.get("seed"),
    }


def configuration_key(spec: Mapping[str, Any]) -> str:
    """The spec minus its seed, as canonical JSON."""
    return json.dumps({k: v for k, v in spec.items() if k != "seed"}, sort_keys=True)


def configuration_label(spec: Mapping[str, Any], sweep_specs: Sequence[Mapping[str, Any]]) -> str:
    """``sd-kd, β 2, scales [1, 2, 4]``; the student and T when they vary in the sweep."""
    coordinates = member_coordinates(spec)
    varies = {
        name: len({json.dumps(member_coordinates(other)[name]) for other in sweep_specs}) > 1
        for name in ("student", "temperature")
    }
    parts = [str(coordinates["method"])]
    if varies["student"]:
        parts.append(str(coordinates["student"]))
    if coordinates["beta"] is not None:
        parts.append(f"β {coordinates['beta']:g}")
    if coordinates["scales"] is not None:
        parts.append(f"scales {coordinates['scales']}")
    if varies["temperature"] and coordinates["temperature"] is not None:
        parts.append(f"T {coordinates['temperature']:g}")
    return ", ".join(parts)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _metric(rows: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [v for row in rows if (v := _number(row.get(key))) is not None]


@dataclass(frozen=True)
class _Outcome:
    """A succeeded member's numbers."""

    seed: int
    final_top1: float | None
    best_top1: float | None
    final_top5: float | None
    best_top5: float | None
    test_top1: float | None
    wall_seconds: float | None
    images_per_s: float | None


def _outcome(member: MemberRecord) -> _Outcome:
    result = member.result or {}
    top1, top5 = _metric(member.metrics, "val_top1"), _metric(member.metrics, "val_top5")
    final_top1 = _number(result.get("val_top1"))
    final_top5 = _number(result.get("val_top5"))
    final_top1 = final_top1 if final_top1 is not None else (top1[-1] if top1 else None)
    final_top5 = final_top5 if final_top5 is not None else (top5[-1] if top5 else None)
    best_top1 = _number(result.get("best_val_top1"))
    best_top1 = best_top1 if best_top1 is not None else max(top1, default=final_top1)
    best_top5 = max(top5, default=final_top5)
    run_seconds = _number(member.run_seconds)
    epoch_seconds = _metric(member.metrics, "seconds")
    wall = run_seconds if run_seconds else (sum(epoch_seconds) if epoch_seconds else None)
    speeds = _metric(member.metrics, "images_per_s")
    return _Outcome(
        seed=int(member.spec.get("seed") or 0),
        final_top1=final_top1,
        best_top1=best_top1,
        final_top5=final_top5,
        best_top5=best_top5,
        test_top1=_number(result.get("test_top1")),
        wall_seconds=wall,
        images_per_s=statistics.fmean(speeds) if speeds else None,
    )


def _present(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


@dataclass
class _Group:
    spec: Mapping[str, Any]
    label: str
    members: list[MemberRecord] = field(default_factory=list)

    @property
    def outcomes(self) -> list[_Outcome]:
        return [_outcome(m) for m in self.members if m.status == "succeeded"]

    def final_by_seed(self, split: str = "val") -> dict[int, float]:
        """Final top-1 on ``split`` by seed."""
        values = {o.seed: o.test_top1 if split == "test" else o.final_top1 for o in self.outcomes}
        return {seed: value for seed, value in values.items() if value is not None}


def _groups(members: Sequence[MemberRecord]) -> list[_Group]:
    specs = [m.spec for m in members]
    groups: dict[str, _Group] = {}
    for member in members:
        key = configuration_key(member.spec)
        if key not in groups:
            groups[key] = _Group(member.spec, configuration_label(member.spec, specs))
        groups[key].members.append(member)
    return list(groups.values())


def base_method_of(method: str) -> str:
    """The base an SD method is paired with when the sweep has it: sd-dkd -> dkd, sd-nkd -> nkd, sd-kd -> kd."""
    return base_loss_of(method) or BASELINE_METHOD


def _baseline_of(group: _Group, groups: Sequence[_Group]) -> _Group | None:
    """An SD configuration's own base method (else kd) with the same student and temperature (and the
    same base), if the sweep has one; None for methods without SD (they are the bases)."""
    method = str(group.spec.get("method"))
    if method not in SD_METHODS:
        return None
    mine = member_coordinates(group.spec)

    def matching(base: str) -> _Group | None:
        for other in groups:
            theirs = member_coordinates(other.spec)
            same = all(mine[name] == theirs[name] for name in ("student", "temperature"))
            if other.spec.get("method") == base and same and _base_of(other.spec) == _base_of(group.spec):
                return other
        return None

    return matching(base_method_of(method)) or matching(BASELINE_METHOD)


def _base_of(spec: Mapping[str, Any]) -> str:
    """What members share whatever the grid: the spec without the grid's fields and the method-resolved hyper-parameters."""
    kept = {
        k: v for k, v in spec.items() if k not in {"method", "student", "scales", "beta", "seed", "hyperparameters"}
    }
    return json.dumps(kept, sort_keys=True)


def _configuration(group: _Group, groups: Sequence[_Group], split: str) -> ConfigurationReport:
    outcomes = group.outcomes
    coordinates = member_coordinates(group.spec)
    baseline = _baseline_of(group, groups)
    gain = None
    if baseline is not None:
        theirs = baseline.final_by_seed(split)
        mine = group.final_by_seed(split)
        gain = paired_gain({seed: (value, theirs[seed]) for seed, value in mine.items() if seed in theirs}, split)
    return ConfigurationReport(
        label=group.label,
        method=str(coordinates["method"]),
        student=str(coordinates["student"]),
        scales=coordinates["scales"],
        beta=coordinates["beta"],
        temperature=coordinates["temperature"],
        members=[m.job_id for m in group.members],
        seeds=sorted(o.seed for o in outcomes),
        final_top1=summarize(_present([o.final_top1 for o in outcomes])),
        best_top1=summarize(_present([o.best_top1 for o in outcomes])),
        final_top5=summarize(_present([o.final_top5 for o in outcomes])),
        best_top5=summarize(_present([o.best_top5 for o in outcomes])),
        test_top1=summarize(_present([o.test_top1 for o in outcomes])),
        wall_seconds=summarize(_present([o.wall_seconds for o in outcomes])),
        images_per_s=summarize(_present([o.images_per_s for o in outcomes])),
        is_baseline=group.spec.get("method") not in SD_METHODS,
        baseline=baseline.label if baseline is not None else None,
        baseline_method=str(baseline.spec.get("method")) if baseline is not None else None,
        gain=gain,
    )


def corrected(configurations: Sequence[ConfigurationReport]) -> list[ConfigurationReport]:
    """The configurations with the gains of every one with at least 2 paired seeds Holm-corrected as one family."""
    family = [i for i, c in enumerate(configurations) if c.gain is not None and c.gain.n >= 2]
    adjusted = dict(zip(family, holm_adjusted([_gain(configurations[i]) for i in family]), strict=True))
    return [replace(c, gain=adjusted[i]) if i in adjusted else c for i, c in enumerate(configurations)]


def protocol_of(members: Sequence[MemberRecord]) -> str:
    """held_out, literature (also for specs stored before protocols), or mixed."""
    protocols = {str(with_stored_protocol(m.spec).get("protocol")) for m in members}
    return protocols.pop() if len(protocols) == 1 else "mixed" if protocols else "held_out"


def reported_split(members: Sequence[MemberRecord]) -> str:
    """test when every member is held_out and every succeeded one recorded its test top-1, else val."""
    succeeded = [m for m in members if m.status == "succeeded"]
    on_test = protocol_of(members) == "held_out" and all(_outcome(m).test_top1 is not None for m in succeeded)
    return "test" if succeeded and on_test else "val"


def recommend(
    configurations: Sequence[ConfigurationReport], *, protocol: str = "literature", split: str = "val"
) -> Recommendation:
    """The recommendation line (rules in the module docstring); gains already ``corrected``."""
    family_size = sum(1 for c in configurations if c.gain is not None and c.gain.family_size)

    def line(text: str, configuration: str | None = None, beats: bool = False) -> Recommendation:
        return Recommendation(text, configuration, beats, protocol, "val", split, CORRECTION, family_size)

    sd = [c for c in configurations if not c.is_baseline]
    if not any(c.is_baseline for c in configurations):
        finished = [c for c in sd if c.final_top1.mean is not None]
        text = f"no base method in this sweep: add '{BASELINE_METHOD}' (or each SD method's own base) to the grid's methods to measure a gain"
        if not finished:
            return line(text)
        best = max(finished, key=lambda c: c.final_top1.mean or 0.0)
        return line(f"{text}; best mean final val top-1: {best.label}, {best.final_top1.mean:.2f}%", best.label)
    compared = [c for c in sd if c.gain is not None and c.final_top1.mean is not None]
    if not compared:
        return line("no configuration has a finished seed paired with a finished seed of its base yet")
    if all(_gain(c).n < 2 for c in compared):
        best = max(compared, key=lambda c: c.final_top1.mean or 0.0)
        return line(
            f"{best.label}: {_gain(best).mean:+.2f} over {best.baseline_method} on {split}, 1 seed; the confidence "
            "interval cannot be computed from one seed: add seeds to the grid",
            best.label,
        )
    tested = [c for c in compared if _gain(c).family_size]
    chosen = max(tested, key=lambda c: c.final_top1.mean or 0.0)  # chosen on val
    gain = _gain(chosen)
    over = f"over {chosen.baseline_method} on {split}, {gain.n} seeds"
    if gain.beats_baseline:
        return line(f"{chosen.label}: {gain.mean:+.2f} ± {_adjusted_half(gain):.2f} {over}", chosen.label, True)
    return line(
        f"no configuration beats its base beyond noise (chosen on val: {chosen.label}, {gain.mean:+.2f} ± "
        f"{_adjusted_half(gain):.2f} {over})",
        chosen.label,
    )


def _adjusted_half(gain: PairedGain) -> float:
    """The Holm-adjusted interval's half-width."""
    return ((gain.adjusted_high or 0.0) - (gain.adjusted_low or 0.0)) / 2


def _gain(configuration: ConfigurationReport) -> PairedGain:
    assert configuration.gain is not None
    return configuration.gain


def _gain_text(gain: PairedGain) -> str:
    """``+1.30 ± 0.40, 3 seeds`` (± the half-width of the paired 95% interval)."""
    if gain.half_width is None:
        return f"{gain.mean:+.2f}, 1 seed"
    return f"{gain.mean:+.2f} ± {gain.half_width:.2f}, {gain.n} seeds"


# ---------------------------------------------------------------- per class


def class_accuracy(result: Mapping[str, Any] | None) -> list[float | None] | None:
    """Percent correct per class from ``result["per_class"]``; None when the job did not record it."""
    per_class = (result or {}).get("per_class")
    if not isinstance(per_class, Mapping):
        return None
    correct, total = per_class.get("correct"), per_class.get("total")
    if not isinstance(correct, list) or not isinstance(total, list) or len(correct) != len(total) or not total:
        return None
    return [
        100.0 * c / t if isinstance(t, (int, float)) and t > 0 else None for c, t in zip(correct, total, strict=True)
    ]


def _class_names(result: Mapping[str, Any] | None, count: int) -> list[str]:
    names = ((result or {}).get("per_class") or {}).get("classes")
    if isinstance(names, list) and len(names) == count:
        return [str(name) for name in names]
    return [str(index) for index in range(count)]


def _per_class(
    groups: Sequence[_Group], configurations: Sequence[ConfigurationReport], recommendation: Recommendation
) -> PerClassReport:
    succeeded = [(g, m) for g in groups for m in g.members if m.status == "succeeded"]
    accuracies = {m.job_id: class_accuracy(m.result) for _, m in succeeded}
    recorded = [(g, m) for g, m in succeeded if accuracies[m.job_id] is not None]
    if not recorded:
        note = "not available: no finished member recorded per-class counts (result.per_class)"
        return PerClassReport(False, note, [], [], None, [])
    first = recorded[0][1]
    count = len(accuracies[first.job_id] or [])
    classes = _class_names(first.result, count)
    members = [
        MemberClassAccuracy(m.job_id, g.label, int(m.spec.get("seed") or 0), accuracies[m.job_id] or [])
        for g, m in recorded
        if len(accuracies[m.job_id] or []) == count
    ]
    notes = []
    if len(members) < len(succeeded):
        notes.append(f"{len(succeeded) - len(members)} finished member(s) without per-class counts are left out")
    best, baseline = _best_sd(groups, configurations, recommendation)
    gains: list[ClassGain] = []
    if best is None or baseline is None:
        notes.append("per-class gains need an SD configuration and its base with finished seeds")
    else:
        gains = _class_gains(best, baseline, accuracies, classes)
        if not gains:
            notes.append(f"{best.label} and its base have no seed with per-class counts in common")
    return PerClassReport(True, "; ".join(notes) or None, classes, members, best.label if best else None, gains)


def _best_sd(
    groups: Sequence[_Group], configurations: Sequence[ConfigurationReport], recommendation: Recommendation
) -> tuple[_Group | None, _Group | None]:
    """The SD configuration the per-class gains are for: the recommended one, else the largest mean gain."""
    by_label = {g.label: g for g in groups}
    candidates = [c for c in configurations if c.method in SD_METHODS and c.gain is not None]
    if not candidates:
        return None, None
    chosen = next((c for c in candidates if c.label == recommendation.configuration), None)
    chosen = chosen or max(candidates, key=lambda c: _gain(c).mean)
    return by_label[chosen.label], by_label.get(chosen.baseline or "")


def _class_gains(
    best: _Group, baseline: _Group, accuracies: Mapping[str, list[float | None] | None], classes: Sequence[str]
) -> list[ClassGain]:
    mine = {int(m.spec.get("seed") or 0): accuracies.get(m.job_id) for m in best.members if m.status == "succeeded"}
    theirs = {
        int(m.spec.get("seed") or 0): accuracies.get(m.job_id) for m in baseline.members if m.status == "succeeded"
    }
    paired: list[tuple[list[float | None], list[float | None]]] = []
    for seed, ours in mine.items():
        other = theirs.get(seed)
        if ours is not None and other is not None and len(ours) == len(other) == len(classes):
            paired.append((ours, other))
    gains = []
    for index, name in enumerate(classes):
        diffs = []
        for ours, other in paired:
            a, b = ours[index], other[index]
            if a is not None and b is not None:
                diffs.append(a - b)
        if diffs:
            gains.append(ClassGain(index, name, statistics.fmean(diffs), len(diffs)))
    return sorted(gains, key=lambda g: (-g.gain, g.index))


def _confusion(groups: Sequence[_Group]) -> ConfusionReport | None:
    """The confusion matrix of the member with the highest final top-1 among those that stored one."""
    candidates: list[tuple[float, _Group, MemberRecord, list[list[Any]]]] = []
    for group in groups:
        for member in group.members:
            matrix = (member.result or {}).get("confusion")
            if member.status != "succeeded" or not isinstance(matrix, list) or not _is_matrix(matrix):
                continue
            top1 = _outcome(member).final_top1
            candidates.append((top1 if top1 is not None else -1.0, group, member, matrix))
    if not candidates:
        return None
    top1, group, member, matrix = max(candidates, key=lambda c: c[0])
    return ConfusionReport(
        job_id=member.job_id,
        configuration=group.label,
        seed=int(member.spec.get("seed") or 0),
        val_top1=top1 if top1 >= 0 else None,
        classes=_class_names(member.result, len(matrix)),
        matrix=[[int(v) for v in row] for row in matrix],
    )


def _is_matrix(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(row, list) and len(row) == len(value) for row in value)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for row in value for v in row)
    )


# ---------------------------------------------------------------- the report


def _cost(
    groups: Sequence[_Group], configurations: Sequence[ConfigurationReport], within: float | None, split: str
) -> CostReport:
    inputs = [
        ConfigurationCosts(
            label=c.label,
            student=c.student,
            accuracy=(c.test_top1 if split == "test" else c.final_top1).mean,
            results=[m.result for m in group.members if m.status == "succeeded" and m.result is not None],
        )
        for group, c in zip(groups, configurations, strict=True)
    ]
    return cost_report(inputs, accuracy=ACCURACY[split], within=within)


def build_report(
    sweep_id: str,
    status: JobStatus,
    members: Sequence[MemberRecord],
    *,
    within: float | None = None,
    search: SearchReport | None = None,
) -> SweepReport:
    """The whole report of a sweep whose members are ``members`` (in member order); ``within``
    (points) asks for the fastest configuration that close to the teacher's top-1; ``search``:
    a search's part, built by ``domain.sweeps.search_report``. A search's pruned trials are counted
    but not compared: their configurations were left at a rung."""
    groups = _groups([member for member in members if member.status != "pruned"])
    protocol, split = protocol_of(members), reported_split(members)
    configurations = corrected([_configuration(group, groups, split) for group in groups])
    recommendation = recommend(configurations, protocol=protocol, split=split)
    counts: dict[str, int] = {}
    for member in members:
        counts[member.status] = counts.get(member.status, 0) + 1
    notes = []
    if split == "val":
        notes.append(
            LITERATURE_NOTE
            if protocol == "literature"
            else f"protocol: {protocol}, but not every succeeded member recorded a test top-1: chosen and reported on val (optimistic)"
        )
    unfinished = len(members) - counts.get("succeeded", 0) - counts.get("pruned", 0)
    if unfinished:
        notes.append(f"{unfinished} of {len(members)} members have not succeeded; only succeeded members are counted")
    if counts.get("pruned"):
        notes.append(f"{counts['pruned']} of {len(members)} trials were pruned at a rung (see search); "
                     "only trials trained to the end are compared")  # fmt: skip
    return SweepReport(
        sweep_id=sweep_id,
        status=status,
        members=counts,
        configurations=configurations,
        recommendation=recommendation,
        per_class=_per_class(groups, configurations, recommendation),
        confusion=_confusion(groups),
        cost=_cost(groups, configurations, within, split),
        notes=notes,
        search=search,
    )
