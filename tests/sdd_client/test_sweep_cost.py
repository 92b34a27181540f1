"""Accuracy against cost through the client: ``SDDClient.sweep_report(within=)`` and ``sdd sweeps report
--within --cost-plot``, against the real API app (the members' costs played in SQL)."""

from __future__ import annotations

import json
from pathlib import Path

from sdd_client import SDDClient
from tests.api.conftest import Api
from tests.api.test_sweep_cost import student_sweep
from tests.sdd_client.test_sweeps import Run, cli  # noqa: F401  (fixture)


def test_the_report_within_a_point_and_the_cost_plot(api: Api, sdd: SDDClient, cli: Run, tmp_path: Path) -> None:  # noqa: F811
    sweep = student_sweep(api)
    report = sdd.sweep_report(sweep["id"], within=1.0)
    assert report.cost.within is not None and report.cost.within.student == "resnet14"
    assert [p.student for p in report.cost.points if p.on_parameters_frontier] == ["resnet8", "resnet14", "resnet20"]
    assert "**Within 1 point of the teacher:** kd, resnet14" in sdd.sweep_report_markdown(sweep["id"], within=1.0)

    plot = tmp_path / "cost.svg"
    shown = cli("sweeps", "report", sweep["id"], "--within", "1.0", "--cost-plot", str(plot))
    assert shown.exit_code == 0, shown.output
    assert "accuracy against cost" in shown.stdout and "latency, size" in shown.stdout
    assert "within 1 point of the teacher: kd, resnet14: 1.000 ms per image on the CPU" in shown.stdout
    assert plot.read_bytes().startswith(b"<?xml") and b"Pareto frontier" in plot.read_bytes()
    as_json = cli("sweeps", "report", sweep["id"], "--within", "0.5", "--json")
    assert json.loads(as_json.stdout)["cost"]["within"]["configuration"] is None
    refused = cli("sweeps", "report", sweep["id"], "--cost-plot", str(tmp_path / "cost.pdf"))
    assert refused.exit_code == 2 and "--cost-plot must end in .png or .svg" in refused.stderr
    assert cli("sweeps", "report", sweep["id"], "--within", "-1").exit_code == 2
