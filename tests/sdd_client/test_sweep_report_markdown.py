"""``sdd_client.sweep_report_markdown`` on reports the domain builds, read as the API sends them."""

from __future__ import annotations

from dataclasses import asdict

from domain.sweeps import sweep_report
from domain.sweeps.sweep_report import build_report
from sdd_client.models import SweepReport
from sdd_client.sweep_report_markdown import gain_text, report_markdown, summary_text
from tests.domain.test_sweep_report import member, three_seeds


def _as_sent(report: sweep_report.SweepReport) -> SweepReport:
    return SweepReport.model_validate(asdict(report))


def test_the_report_as_markdown() -> None:
    text = report_markdown(_as_sent(build_report("swp_1", "failed", three_seeds())))
    assert text.startswith("# Sweep swp_1\n")
    assert (
        "**Recommendation:** no configuration beats its base beyond noise (chosen on val: sd-kd, β 2, "
        "scales [1, 2, 4], +1.50 ± 1.79 over kd on val, 3 seeds)" in text
    )
    assert (
        "_protocol literature: chosen on val, reported on val; Holm–Bonferroni correction, family of 2 configurations_"
        in text
    )
    assert "| kd (baseline) | 3 | 91.00 ± 1.00 |" in text
    assert (
        "| sd-kd, β 2, scales [1, 2, 4] | 3 | 92.50 ± 1.32 |" in text
        and "+1.50 [+0.26, +2.74] (3 seeds; Holm [-0.29, +3.29])" in text
    )
    assert "| zero | +10.00 | 3 |" in text
    assert "| true \\ predicted | zero | one | two |" in text and "| two | 0 | 0 | 10 |" in text


def test_without_per_class_data_the_markdown_says_so() -> None:
    members = [member("job_kd", "kd", 0, 90.0), member("job_sd", "sd-kd", 0, 91.0)]
    text = report_markdown(_as_sent(build_report("swp_1", "succeeded", members)))
    assert "Per-class accuracy is not available" in text and "No finished member recorded a confusion matrix" in text
    assert "+1.00 (1 seed, no interval)" in text


def test_the_cells_the_terminal_table_shares() -> None:
    configurations = _as_sent(build_report("swp_1", "failed", three_seeds())).configurations
    kd, sd = configurations[0], configurations[2]
    assert (summary_text(kd.final_top1), gain_text(kd.gain, kd.is_baseline)) == ("91.00 ± 1.00", "baseline")
    assert gain_text(sd.gain, sd.is_baseline) == "+1.50 [+0.26, +2.74] (3 seeds; Holm [-0.29, +3.29])"
    assert summary_text(kd.wall_seconds.model_copy(update={"mean": None})) == "—"
