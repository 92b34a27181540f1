"""A sweep's report on hand-made member records: the numbers are worked out by hand in each test."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

import pytest

from domain.sweeps.sweep_report import MemberRecord, build_report, configuration_label
from domain.sweeps.sweep_statistics import T_975, paired_gain, summarize, t_quantile_975

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


def test_summaries_and_paired_gain_by_hand() -> None:
    s = summarize([91.5, 92.0, 94.0])
    assert (s.mean, s.n) == (92.5, 3) and s.std == pytest.approx(math.sqrt(1.75))
    assert summarize([3.0]) == summarize([3.0]).__class__(3.0, None, 1)
    gain = paired_gain({0: (91.5, 90.0), 1: (92.0, 91.0), 2: (94.0, 92.0)})  # diffs 1.5, 1.0, 2.0
    assert gain is not None
    assert (gain.mean, gain.std, gain.n, gain.seeds) == (1.5, 0.5, 3, [0, 1, 2])
    assert gain.half_width == pytest.approx(T_2 * 0.5 / math.sqrt(3))  # 1.2421
    assert gain.low == pytest.approx(1.5 - 1.2421, abs=1e-4) and gain.beats_baseline
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

    assert report.recommendation.text == "sd-kd, β 2, scales [1, 2, 4]: +1.50 ± 1.24 over KD, 3 seeds"
    assert report.recommendation.beats_baseline and report.recommendation.configuration == sd2.label
    assert report.members == {"succeeded": 9, "failed": 1}
    assert report.notes == ["1 of 10 members have not succeeded; only succeeded members are counted"]


def test_no_configuration_beats_kd_beyond_noise() -> None:
    members = [m for m in three_seeds() if "sd2" not in m.job_id]
    report = build_report("swp_1", "failed", members)
    assert report.recommendation.text == (
        "no configuration beats KD beyond noise (best: sd-kd, β 0, scales [1, 2, 4], +0.17 ± 3.13, 3 seeds)"
    )
    assert not report.recommendation.beats_baseline


def test_one_seed_gives_no_interval() -> None:
    members = [member("job_kd", "kd", 0, 90.0), member("job_sd", "sd-kd", 0, 91.3)]
    report = build_report("swp_1", "succeeded", members)
    gain = by_label(report)["sd-kd, β 2, scales [1, 2, 4]"].gain
    assert gain.mean == pytest.approx(1.3) and gain.half_width is None and gain.low is None
    assert report.recommendation.text.startswith("sd-kd, β 2, scales [1, 2, 4]: +1.30 over KD, 1 seed; ")
    assert "cannot be computed" in report.recommendation.text and not report.recommendation.beats_baseline


def test_without_kd_or_without_results() -> None:
    report = build_report("swp_1", "succeeded", [member("job_a", "sd-kd", 0, 91.0), member("job_b", "sd-kd", 1, 93.0)])
    assert report.recommendation.text.startswith("no KD baseline in this sweep")
    assert "sd-kd, β 2, scales [1, 2, 4], 92.00%" in report.recommendation.text
    waiting = [member("job_k", "kd", 0, None, status="queued"), member("job_s", "sd-kd", 0, None, status="running")]
    report = build_report("swp_1", "running", waiting)
    assert report.recommendation.text == "no configuration has a finished seed paired with a finished KD seed yet"
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
