"""``sdd_client.plots``, the one renderer of training curves: both formats, overlays, the SD-only
panel, empty input, self-contained SVG; and the client's ``--plot`` without matplotlib."""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from sdd_client.plots import EMPTY_MESSAGE, job_label, job_title, render_curve_files, render_curves, render_overlay
from tests.sdd_client.blocked_imports import run_without
from tests.sdd_client.plot_samples import SVG_NS, XLINK_NS, metrics_rows, svg_text


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image.size


def test_png_of_one_job_decodes_to_a_sane_size():
    width, height = png_size(render_curves({"job_a ce": metrics_rows(3, sd=False)}, "png"))
    assert 600 <= width <= 2000 and 300 <= height <= 1500


def test_svg_is_well_formed_and_self_contained():
    svg = render_curves({"job_a sd-kd": metrics_rows(4, sd=True)}, "svg", title="job_a: sd-kd → resnet8 on digits")
    root = ET.fromstring(svg)
    assert root.tag == f"{{{SVG_NS}}}svg"
    text = svg.decode()
    assert "<!DOCTYPE" not in text and "<metadata" not in text and "<image" not in text
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {SVG_NS, XLINK_NS}
    hrefs = [value for node in root.iter() for name, value in node.attrib.items() if name.endswith("href")]
    assert hrefs and all(href.startswith("#") for href in hrefs)  # markers reuse local defs only
    assert "url(" not in text.replace("url(#", "")
    assert "job_a: sd-kd → resnet8 on digits" in svg_text(svg)


def test_svg_is_deterministic():
    series = {"job_a kd": metrics_rows(3, sd=False)}
    assert render_curves(series, "svg") == render_curves(series, "svg")


def test_sd_jobs_get_the_complementary_share_panel_others_do_not():
    sd = svg_text(render_curves({"job_a sd-kd": metrics_rows(2, sd=True)}, "svg"))
    plain = svg_text(render_curves({"job_b kd": metrics_rows(2, sd=False)}, "svg"))
    for text in (sd, plain):
        for shown in (
            "Validation accuracy",
            "top-5",
            "Training loss",
            "KD",
            "Validation loss",
            "Learning rate",
            "epoch",
        ):
            assert shown in text
    assert "Complementary-region share" in sd
    assert "Complementary-region share" not in plain


def test_two_jobs_overlay_in_one_figure_with_a_legend():
    series = {"job_a sd-kd": metrics_rows(5, sd=True), "job_b kd": metrics_rows(3, sd=False, planned=5)}
    svg = render_curves(series, "svg", title="compare")
    text = svg_text(svg)
    assert "job_a sd-kd" in text and "job_b kd" in text
    assert text.count("Validation accuracy") == 1  # overlaid, not one figure per job
    single = render_curves({"job_a sd-kd": metrics_rows(5, sd=True)}, "svg")
    assert len(svg) > len(single)  # the second job's lines are drawn
    assert png_size(render_curves(series, "png"))[0] >= 600


def test_gaps_and_junk_values_do_not_raise():
    rows = metrics_rows(3, sd=True)
    rows[1].update(val_top1=None, train_kd=math.nan, lr="n/a")
    del rows[2]["epoch"]  # falls back to the row's position
    assert render_curves({"job_a sd-kd": rows}, "png")[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("series", [{}, {"job_a ce": []}])
def test_no_finished_epoch_is_a_small_notice(series):
    svg = render_curves(series, "svg", title="job_a: ce → resnet8 on digits")
    assert EMPTY_MESSAGE in svg_text(svg)
    width, height = png_size(render_curves(series, "png"))
    assert width <= 600 and height <= 200


def test_a_job_without_epochs_is_named_beside_one_with_epochs():
    text = svg_text(render_curves({"job_a ce": metrics_rows(2, sd=False), "job_b kd": []}, "svg"))
    assert "job_a ce" in text and f"job_b kd ({EMPTY_MESSAGE})" in text


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="svg"):
        render_curves({}, "jpg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="svg"):
        render_curve_files({}, ("png", "jpg"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "series", [{"job_a sd-kd": metrics_rows(5, sd=True), "job_b kd": metrics_rows(2, sd=False)}, {}]
)
def test_both_formats_from_one_figure_are_the_bytes_of_one_figure_each(series):
    for formats in (("png", "svg"), ("svg", "png")):
        drawn = render_curve_files(series, formats, title="a title")
        assert list(drawn) == list(formats)
        for fmt in formats:
            assert drawn[fmt] == render_curves(series, fmt, title="a title"), (fmt, formats)


def test_labels_are_text_not_mathtext():
    text = svg_text(render_curves({"job_$a$ kd": metrics_rows(1, sd=False)}, "svg", title="cost $5"))
    assert "job_$a$ kd" in text and "cost $5" in text


def test_job_label_and_title():
    spec = {"method": "sd-kd", "student": "resnet8", "dataset": "digits"}
    assert job_label("job_1", spec) == "job_1 sd-kd"
    assert job_title("job_1", spec) == "job_1: sd-kd → resnet8 on digits"


def test_an_overlay_draws_one_metric_of_every_line_in_one_panel():
    groups = {
        "kd": {"seed 0 · job_a": metrics_rows(3, sd=False), "seed 1 · job_b": metrics_rows(2, sd=False)},
        "sd-kd, β 2": {"seed 0 · job_c": metrics_rows(3, sd=True), "seed 1 · job_d": []},
    }
    text = svg_text(render_overlay(groups, "svg", title="sweep: val top-1"))
    assert "kd · seed 0 · job_a" in text and f"sd-kd, β 2 · seed 1 · job_d ({EMPTY_MESSAGE})" in text
    assert "validation top-1 (%)" in text and "sweep: val top-1" in text
    assert "Training loss" not in text  # one panel, one metric
    assert render_overlay(groups, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert EMPTY_MESSAGE in svg_text(render_overlay({"kd": {"seed 0 · job_a": []}}, "svg"))


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
