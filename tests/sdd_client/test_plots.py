"""``sdd jobs compare --plot``'s figure, drawn by the client itself (``sdd_client.plots``)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from sdd_client.models import EpochRow
from sdd_client.plots import NO_EPOCH, render_compare
from tests.sdd_client.blocked_imports import run_without


def _rows(epochs: int, sd: bool) -> list[EpochRow]:
    return [
        EpochRow(
            epoch=i,
            epochs=epochs,
            lr=0.1 / i,
            train_loss=1 / i,
            train_ce=0.4 / i,
            train_kd=0.6 / i,
            val_top1=20.0 + 10 * i,
            val_top5=40.0 + 10 * i,
            complementary_share=0.2 if sd else None,
        )
        for i in range(1, epochs + 1)
    ]


def _svg_text(svg: bytes) -> str:
    return " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg.decode()))


def test_svg_overlays_the_jobs_with_a_legend_by_job_label() -> None:
    svg = render_compare(
        {"job_a ce": _rows(3, sd=False), "job_b sd-kd": _rows(2, sd=True), "job_c kd": []},
        "svg",
        title="comparison: ce resnet8, sd-kd resnet8",
    )
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg[:500]
    text = _svg_text(svg)
    assert "job_a ce" in text and "job_b sd-kd" in text and f"job_c kd ({NO_EPOCH})" in text
    assert "Validation accuracy" in text and "comparison: ce resnet8, sd-kd resnet8" in text
    assert "Complementary-region share" in text  # an SD job reports it
    assert render_compare({"job_a ce": _rows(2, sd=False)}, "svg") == render_compare(
        {"job_a ce": _rows(2, sd=False)}, "svg"
    )


def test_the_sd_panel_is_left_out_without_sd_jobs_and_gaps_are_not_errors() -> None:
    rows = _rows(3, sd=False)
    rows[1] = rows[1].model_copy(update={"val_top1": float("nan"), "train_kd": None})
    text = _svg_text(render_compare({"job_a kd $5": rows}, "svg"))
    assert "Complementary-region share" not in text and "job_a kd $5" in text


def test_png_and_unknown_formats() -> None:
    png = render_compare({"job_a ce": _rows(2, sd=False)}, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 600 and height >= 300
    with pytest.raises(ValueError, match="unknown plot format"):
        render_compare({}, "jpg")


def test_without_matplotlib_compare_plot_says_to_install_the_plot_extra(tmp_path: Path) -> None:
    plot = tmp_path / "curves.png"
    code = (
        "from sdd_client.cli import cli; "
        f"cli(['jobs', 'compare', 'job_x', '--plot', {str(plot)!r}, '--url', 'http://127.0.0.1:9', "
        "'--token', 'sdd_x'], prog_name='sdd')"
    )
    done = run_without(("matplotlib",), code)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error [plot_unavailable] --plot needs matplotlib")
    assert "pip install 'sdd-client[plot]'" in done.stderr and "Traceback" not in done.stderr
    assert not plot.exists()
