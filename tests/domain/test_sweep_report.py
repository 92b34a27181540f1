"""A sweep's report on hand-made member records: the numbers are worked out by hand in each test."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, replace
from typing import Any

import pytest

from domain.sweeps.sweep_report import MemberRecord, build_report, configuration_label
from domain.sweeps.sweep_statistics import (
    T_975,
    holm_adjusted,
    paired_gain,
    summarize,
    t_quantile,
    t_quantile_975,
    t_two_sided_p,
)

T_2 = 4.3027  # t_{0.975, 2}: three paired seeds


def spec(method: str, seed: int, beta: float = 2.0, **extra: Any) -> dict[str, Any]:
    return {
        "dataset": "digits",
        "student": "resnet8",
        "teacher": {"job": "job_t"},
        "method": method,
        "scales": [1, 2, 4],
        "beta": beta,
        "seed": seed,
        "image_size": 32,
        "hyperparameters": {"epochs": 2, "batch_size": 64, "temperature": 4.0},
    } | extra


def member(
    job_id: str,
    method: str,
    seed: int,
    final: float | None,
    *,
    beta: float = 2.0,
    status: str = "succeeded",
    correct: list[int] | None = None,
    confusion: list[list[int]] | None = None,
    run_seconds: float = 10.0,
) -> MemberRecord:
    result: dict[str, Any] | None = None
    if final is not None:
        result = {"val_top1": final, "val_top5": final + 5, "best_val_top1": final + 0.5}
        if correct is not None:
            result["per_class"] = {"correct": correct, "total": [10, 10, 10], "classes": ["zero", "one", "two"]}
        if confusion is not None:
            result["confusion"] = confusion
    metrics = [
        {"epoch": 1, "val_top1": 50.0, "val_top5": 80.0, "images_per_s": 100.0, "seconds": 1.5},
        {"epoch": 2, "val_top1": final, "val_top5": 99.0, "images_per_s": 200.0, "seconds": 2.5},
    ]
    return MemberRecord(job_id, spec(method, seed, beta), status, result, run_seconds, metrics if final else [])


KD_CORRECT = {0: [8, 9, 10], 1: [7, 9, 9], 2: [9, 8, 10]}
SD_CORRECT = {0: [9, 9, 10], 1: [9, 8, 10], 2: [9, 9, 10]}
BEST_CONFUSION = [[9, 1, 0], [0, 9, 1], [0, 0, 10]]


def three_seeds() -> list[MemberRecord]:
    """KD 90/91/92; SD-KD β 2 91.5/92/94 (beats KD); SD-KD β 0 90/92.5/91 (noise); one failed member."""
    kd = [
        member(f"job_kd{s}", "kd", s, v, correct=KD_CORRECT[s], run_seconds=10.0 + 2 * s, confusion=[[10, 0, 0]] * 3)
        for s, v in enumerate((90.0, 91.0, 92.0))
    ]
    sd2 = [
        member(f"job_sd2_{s}", "sd-kd", s, v, correct=SD_CORRECT[s], confusion=BEST_CONFUSION if s == 2 else None)
        for s, v in enumerate((91.5, 92.0, 94.0))
    ]
    sd0 = [member(f"job_sd0_{s}", "sd-kd", s, v, beta=0.0) for s, v in enumerate((90.0, 92.5, 91.0))]
    failed = member("job_sd0_3", "sd-kd", 3, None, beta=0.0, status="failed")
    return [*kd, *sd0, failed, *sd2]


def by_label(report: Any) -> dict[str, Any]:
    return {c.label: c for c in report.configurations}


def test_the_t_table_agrees_with_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for dof, value in T_975.items():
        assert value == pytest.approx(stats.t.ppf(0.975, dof), abs=1e-4), dof
    assert t_quantile_975(35) == T_975[30]  # between rows: the smaller dof, a wider interval
    assert t_quantile_975(500) == pytest.approx(1.96)
    for dof in (1, 2, 5, 30):
        for t in (0.2, 2.0, 9.0):
            assert t_two_sided_p(t, dof) == pytest.approx(2 * stats.t.sf(t, dof), rel=1e-9)
        assert t_quantile(1 - 0.05 / 6, dof) == pytest.approx(stats.t.ppf(1 - 0.05 / 6, dof), rel=1e-9)


def test_summaries_and_paired_gain_by_hand() -> None:
    s = summarize([91.5, 92.0, 94.0])
    assert (s.mean, s.n) == (92.5, 3) and s.std == pytest.approx(math.sqrt(1.75))
    assert summarize([3.0]) == summarize([3.0]).__class__(3.0, None, 1)
    gain = paired_gain({0: (91.5, 90.0), 1: (92.0, 91.0), 2: (94.0, 92.0)})  # diffs 1.5, 1.0, 2.0
    assert gain is not None
    assert (gain.mean, gain.std, gain.n, gain.seeds) == (1.5, 0.5, 3, [0, 1, 2])
    assert gain.half_width == pytest.approx(T_2 * 0.5 / math.sqrt(3))  # 1.2421
    assert gain.low == pytest.approx(1.5 - 1.2421, abs=1e-4)
    assert not gain.beats_baseline and gain.family_size == 0  # decided only once Holm saw the family
    one = paired_gain({0: (91.0, 90.0)})
    assert one is not None and (one.mean, one.half_width, one.beats_baseline) == (1.0, None, False)
    assert paired_gain({}) is None


def test_configurations_gains_and_the_recommendation() -> None:
    report = build_report("swp_1", "failed", three_seeds())
    configurations = by_label(report)
    assert list(configurations) == ["kd", "sd-kd, β 0, scales [1, 2, 4]", "sd-kd, β 2, scales [1, 2, 4]"]
    kd, sd0, sd2 = configurations.values()

    assert kd.is_baseline and kd.gain is None and kd.seeds == [0, 1, 2]
    assert (kd.final_top1.mean, kd.final_top1.std, kd.final_top1.n) == (91.0, 1.0, 3)
    assert kd.best_top1.mean == 91.5  # the results' best_val_top1: final + 0.5
    assert kd.final_top5.mean == 96.0 and kd.best_top5.mean == 99.0  # best top-5 from the epochs
    assert (kd.wall_seconds.mean, kd.wall_seconds.std) == (12.0, 2.0)  # run_seconds 10, 12, 14
    assert (kd.images_per_s.mean, kd.images_per_s.std) == (150.0, 0.0)

    assert (sd2.method, sd2.beta, sd2.scales, sd2.baseline) == ("sd-kd", 2.0, [1, 2, 4], "kd")
    assert sd2.final_top1.mean == 92.5 and sd2.final_top1.std == pytest.approx(1.3229, abs=1e-4)
    assert sd2.gain.mean == 1.5 and sd2.gain.half_width == pytest.approx(1.2421, abs=1e-4)

    # β 0: diffs 0, 1.5, -1 -> mean 1/6, sd 1.2583, interval 1/6 ± 3.1258; the failed seed 3 is not counted
    assert sd0.members == ["job_sd0_0", "job_sd0_1", "job_sd0_2", "job_sd0_3"] and sd0.seeds == [0, 1, 2]
    assert sd0.gain.mean == pytest.approx(1 / 6) and sd0.gain.std == pytest.approx(1.2583, abs=1e-4)
    assert sd0.gain.low < 0 < sd0.gain.high

    # Holm over 2: β 2's p = 1 − t/√(2 + t²) with t = 1.5/(0.5/√3), 0.0351 > 0.05/2: kept at level 0.025
    assert sd2.gain.p_value == pytest.approx(1 - 27**0.5 / 29**0.5) and sd2.gain.low > 0
    assert (sd2.gain.family_size, sd2.gain.adjusted_alpha, sd2.gain.beats_baseline) == (2, 0.025, False)
    assert report.recommendation.text == (
        "no configuration beats its base beyond noise (chosen on val: sd-kd, β 2, scales [1, 2, 4], "
        "+1.50 ± 1.79 over kd on val, 3 seeds)"
    )
    assert not report.recommendation.beats_baseline and report.recommendation.configuration == sd2.label
    assert (report.recommendation.correction, report.recommendation.family_size) == ("Holm–Bonferroni", 2)
    assert report.members == {"succeeded": 9, "failed": 1}
    assert report.notes == [
        "protocol: literature (chosen and reported on val: optimistic)",
        "1 of 10 members have not succeeded; only succeeded members are counted",
    ]


def test_no_configuration_beats_kd_beyond_noise() -> None:
    members = [m for m in three_seeds() if "sd2" not in m.job_id]
    report = build_report("swp_1", "failed", members)
    assert report.recommendation.text == (
        "no configuration beats its base beyond noise (chosen on val: sd-kd, β 0, scales [1, 2, 4], "
        "+0.17 ± 3.13 over kd on val, 3 seeds)"
    )  # a family of one: Holm is the plain 95% interval
    assert not report.recommendation.beats_baseline


def test_one_seed_gives_no_interval() -> None:
    members = [member("job_kd", "kd", 0, 90.0), member("job_sd", "sd-kd", 0, 91.3)]
    report = build_report("swp_1", "succeeded", members)
    gain = by_label(report)["sd-kd, β 2, scales [1, 2, 4]"].gain
    assert gain.mean == pytest.approx(1.3) and gain.half_width is None and gain.low is None
    assert report.recommendation.text.startswith("sd-kd, β 2, scales [1, 2, 4]: +1.30 over kd on val, 1 seed; ")
    assert "cannot be computed" in report.recommendation.text and not report.recommendation.beats_baseline


def test_without_kd_or_without_results() -> None:
    report = build_report("swp_1", "succeeded", [member("job_a", "sd-kd", 0, 91.0), member("job_b", "sd-kd", 1, 93.0)])
    assert report.recommendation.text.startswith("no base method in this sweep")
    assert "sd-kd, β 2, scales [1, 2, 4], 92.00%" in report.recommendation.text
    waiting = [member("job_k", "kd", 0, None, status="queued"), member("job_s", "sd-kd", 0, None, status="running")]
    report = build_report("swp_1", "running", waiting)
    assert (
        report.recommendation.text == "no configuration has a finished seed paired with a finished seed of its base yet"
    )
    assert all(c.final_top1 == c.final_top1.__class__(None, None, 0) for c in report.configurations)


def test_per_class_gains_of_the_best_sd_configuration_and_the_confusion_of_the_best_member() -> None:
    report = build_report("swp_1", "failed", three_seeds())
    per_class = report.per_class
    assert per_class.available and per_class.classes == ["zero", "one", "two"]
    assert per_class.configuration == "sd-kd, β 2, scales [1, 2, 4]"
    # gains per seed (points): class zero +10 +20 +0, one 0 -10 +10, two 0 +10 0 -> means 10, 0, 3.33
    assert [(g.name, round(g.gain, 4), g.n) for g in per_class.gains] == [
        ("zero", 10.0, 3),
        ("two", 3.3333, 3),
        ("one", 0.0, 3),
    ]
    kd0 = next(m for m in per_class.members if m.job_id == "job_kd0")
    assert kd0.accuracy == [80.0, 90.0, 100.0] and kd0.configuration == "kd"
    assert "without per-class counts" in (per_class.note or "")  # the β 0 members recorded none
    confusion = report.confusion
    assert confusion is not None and (confusion.job_id, confusion.val_top1) == ("job_sd2_2", 94.0)
    assert confusion.matrix == BEST_CONFUSION and confusion.classes == ["zero", "one", "two"]


def test_without_per_class_data_the_part_says_so() -> None:
    members = [member("job_kd", "kd", 0, 90.0), member("job_sd", "sd-kd", 0, 91.0)]
    report = build_report("swp_1", "succeeded", members)
    assert not report.per_class.available and report.per_class.gains == []
    assert "not available" in (report.per_class.note or "") and report.confusion is None


def test_the_report_is_plain_json() -> None:
    plain = asdict(build_report("swp_1", "failed", three_seeds()))
    assert plain["configurations"][2]["gain"]["mean"] == 1.5
    assert json.loads(json.dumps(plain)) == plain


def test_labels_name_what_varies() -> None:
    specs = [spec("kd", 0), spec("sd-kd", 0, student="wrn_16_2", hyperparameters={"temperature": 2.0})]
    assert configuration_label(specs[0], specs) == "kd, resnet8, T 4"
    assert configuration_label(specs[1], specs) == "sd-kd, wrn_16_2, β 2, scales [1, 2, 4], T 2"
    assert configuration_label(spec("sd-kd", 0, beta=0.0), [spec("sd-kd", 0)]) == "sd-kd, β 0, scales [1, 2, 4]"


def t2_two_sided_p(t: float) -> float:
    """Student's t with 2 degrees of freedom in closed form: P(|T| ≥ t) = 1 − t / √(2 + t²)."""
    return 1 - t / math.sqrt(2 + t * t)


def t2_quantile(probability: float) -> float:
    """Its inverse: t_{F, 2} = (2F − 1) / √(2F(1 − F))."""
    return (2 * probability - 1) / math.sqrt(2 * probability * (1 - probability))


def test_holm_step_down_on_three_configurations_by_hand() -> None:
    # three configurations, three seeds each; diffs A 3, 3.5, 4; B 1.5, 1, 2; C 0, 1.5, -1
    a = paired_gain({0: (93.0, 90.0), 1: (94.5, 91.0), 2: (96.0, 92.0)})
    b = paired_gain({0: (91.5, 90.0), 1: (92.0, 91.0), 2: (94.0, 92.0)})
    c = paired_gain({0: (90.0, 90.0), 1: (92.5, 91.0), 2: (91.0, 92.0)})
    assert a is not None and b is not None and c is not None
    se_ab = 0.5 / math.sqrt(3)
    p_a, p_b = t2_two_sided_p(3.5 / se_ab), t2_two_sided_p(1.5 / se_ab)  # 0.00676, 0.0351
    se_c = statistics.stdev([0, 1.5, -1]) / math.sqrt(3)
    p_c = t2_two_sided_p((1 / 6) / se_c)  # 0.840
    assert (a.p_value, b.p_value, c.p_value) == pytest.approx((p_a, p_b, p_c))
    assert p_a < 0.05 / 3 < 0.05 / 2 < p_b < 0.05 < p_c  # B passes uncorrected, not corrected

    # step 1: A at 0.05/3, rejected; step 2: B at 0.05/2, kept; so C is kept too, at B's level
    ha, hb, hc = holm_adjusted([a, b, c])
    assert [g.family_size for g in (ha, hb, hc)] == [3, 3, 3]
    assert [g.adjusted_alpha for g in (ha, hb, hc)] == pytest.approx([0.05 / 3, 0.025, 0.025])
    assert [g.beats_baseline for g in (ha, hb, hc)] == [True, False, False]
    half_a = t2_quantile(1 - 0.05 / 6) * se_ab  # t = 10.886: ± 3.143
    half_b = t2_quantile(1 - 0.025 / 2) * se_ab  # t = 6.205: ± 1.791
    assert (ha.adjusted_low, ha.adjusted_high) == pytest.approx((3.5 - half_a, 3.5 + half_a))
    assert (hb.adjusted_low, hb.adjusted_high) == pytest.approx((1.5 - half_b, 1.5 + half_b))
    assert ha.adjusted_low > 0 and hb.adjusted_low < 0 < hb.low  # the corrected interval is wider
    assert hc.adjusted_low == pytest.approx(1 / 6 - t2_quantile(1 - 0.025 / 2) * se_c)
    (alone,) = holm_adjusted([b])  # a family of one: the uncorrected 95% interval
    assert (alone.family_size, alone.adjusted_alpha, alone.beats_baseline) == (1, 0.05, True)
    assert (alone.adjusted_low, alone.adjusted_high) == pytest.approx((b.low, b.high), abs=1e-4)
    with pytest.raises(ValueError, match="at least 2 paired seeds"):
        holm_adjusted([paired_gain({0: (91.0, 90.0)})])  # type: ignore[list-item]


def held_out(job_id: str, method: str, seed: int, val: float, test: float | None, **kw: Any) -> MemberRecord:
    record = member(job_id, method, seed, val, **kw)
    result = dict(record.result or {}) | {"test_top1": test, "teacher_test_top1": 95.0, "teacher_val_top1": 97.0}
    return replace(record, spec=dict(record.spec) | {"protocol": "held_out"}, result=result)


def test_held_out_sweeps_choose_on_val_and_report_on_test() -> None:
    # β 2 has the best val (the winner on the selection split) but its test gain is small; β 0 the reverse
    kd = [held_out(f"job_kd{s}", "kd", s, 90.0, t) for s, t in enumerate((80.0, 81.0, 82.0))]
    sd2 = [held_out(f"job_a{s}", "sd-kd", s, 95.0 + s, t) for s, t in enumerate((83.0, 84.5, 86.0))]
    sd0 = [held_out(f"job_b{s}", "sd-kd", s, 91.0, t, beta=0.0) for s, t in enumerate((84.0, 85.5, 87.0))]
    report = build_report("swp_1", "succeeded", [*kd, *sd2, *sd0])
    configurations = by_label(report)
    chosen = configurations["sd-kd, β 2, scales [1, 2, 4]"]
    assert chosen.test_top1.mean == 84.5 and chosen.final_top1.mean == 96.0
    assert chosen.gain.split == "test" and chosen.gain.mean == 3.5  # test diffs 3, 3.5, 4
    assert configurations["sd-kd, β 0, scales [1, 2, 4]"].gain.mean == 4.5
    recommendation = report.recommendation
    assert (recommendation.protocol, recommendation.chosen_on, recommendation.reported_on) == (
        "held_out",
        "val",
        "test",
    )
    assert recommendation.configuration == chosen.label and recommendation.beats_baseline
    assert recommendation.text.startswith("sd-kd, β 2, scales [1, 2, 4]: +3.50 ± ")
    assert recommendation.text.endswith(" over kd on test, 3 seeds") and recommendation.family_size == 2
    assert report.notes == []
    assert report.cost.accuracy == "final test top-1" and report.cost.teacher_top1 == 95.0
    assert report.cost.teacher_split == "test"

    one_without_test = [*kd[:2], held_out("job_kd2", "kd", 2, 90.0, None), *sd2]
    report = build_report("swp_1", "succeeded", one_without_test)
    assert report.recommendation.reported_on == "val" and "chosen and reported on val" in report.notes[0]


def test_each_sd_method_is_paired_with_its_own_base_else_kd() -> None:
    members = [
        *(member(f"job_kd{s}", "kd", s, 90.0 + s) for s in range(2)),
        *(member(f"job_dkd{s}", "dkd", s, 91.0 + s) for s in range(2)),
        *(member(f"job_sdd{s}", "sd-dkd", s, 92.0 + 2 * s) for s in range(2)),
        *(member(f"job_sdn{s}", "sd-nkd", s, 90.5 + s) for s in range(2)),
    ]
    configurations = by_label(build_report("swp_1", "succeeded", members))
    assert [(c.label, c.is_baseline) for c in configurations.values()] == [
        ("kd", True),
        ("dkd", True),
        ("sd-dkd, β 2, scales [1, 2, 4]", False),
        ("sd-nkd, β 2, scales [1, 2, 4]", False),
    ]
    sd_dkd = configurations["sd-dkd, β 2, scales [1, 2, 4]"]
    assert (sd_dkd.baseline, sd_dkd.baseline_method, sd_dkd.gain.mean) == ("dkd", "dkd", 1.5)  # 92-91, 94-92
    sd_nkd = configurations["sd-nkd, β 2, scales [1, 2, 4]"]  # no nkd in the sweep: over kd
    assert (sd_nkd.baseline, sd_nkd.baseline_method, sd_nkd.gain.mean) == ("kd", "kd", 0.5)
    assert configurations["dkd"].gain is None
