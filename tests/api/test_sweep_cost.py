"""A sweep over students through REST: the report's accuracy against cost, ``?within=`` and the cost plot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, assert_error
from tests.domain.test_sweep_cost import STUDENTS, cost_result


def student_sweep(api: Api) -> dict[str, Any]:
    """A KD sweep over ``STUDENTS`` × seeds 0, 1, every member finished with its cost (resnet8's on a GPU too)."""
    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    base = {"dataset": "digits", "method": "kd", "teacher": {"job": teacher["id"]}, "hyperparameters": {"epochs": 2}}
    body = {"name": "which student", "base": base, "grid": {"student": list(STUDENTS), "seed": [0, 1]}}
    response = api.post("/v1/sweeps", json=body)
    assert response.status_code == 201, response.text
    sweep = response.json()
    for member in sweep["members"]:
        student, seed = member["spec"]["student"], member["spec"]["seed"]
        top1s, mss, params = STUDENTS[student]
        cuda_ms = 0.1 if student == "resnet8" else None
        api.succeed_job(member["id"], result=cost_result(top1s[seed], params=params, ms=mss[seed], cuda_ms=cuda_ms))
    return sweep


def test_the_report_answers_within_and_draws_the_cost(api: Api) -> None:
    sweep = student_sweep(api)
    job = api.get(f"/v1/jobs/{sweep['members'][0]['id']}").json()
    assert job["result"]["cost"]["parameters"] == 78_042 and job["result"]["teacher_val_top1"] == 92.0

    report = api.get(f"/v1/sweeps/{sweep['id']}/report", params={"within": 1.0})
    assert report.status_code == 200, report.text
    cost = report.json()["cost"]
    assert cost["teacher_top1"] == 92.0 and cost["within"]["student"] == "resnet14"
    assert cost["within"]["text"].startswith("kd, resnet14: 1.000 ms per image on the CPU, 91.00% top-1")
    frontier = [p["student"] for p in cost["points"] if p["on_latency_frontier"]]
    assert frontier == ["resnet8", "resnet14", "resnet20"]
    assert cost["points"][0]["cuda_batch1_ms"] == pytest.approx(0.1) and cost["points"][1]["cuda_batch1_ms"] is None
    assert api.get(f"/v1/sweeps/{sweep['id']}/report").json()["cost"]["within"] is None

    none = api.get(f"/v1/sweeps/{sweep['id']}/report", params={"within": 0.5}).json()["cost"]["within"]
    assert none["configuration"] is None and none["text"].startswith("no student is within 0.5 points")

    markdown = api.get(f"/v1/sweeps/{sweep['id']}/report", params={"format": "markdown", "within": 1.0}).text
    assert "## Accuracy against cost" in markdown
    assert "**Within 1 point of the teacher:** kd, resnet14: 1.000 ms per image on the CPU" in markdown
    assert "| kd, resnet8 | 89.50 | 78 k | 780 k | 0.500 | 20.0 | 0.100 | — | latency, size |" in markdown
    assert "| kd, resnet32 | 91.00 | 467 k | 4.67 M | 2.500 | 100.0 | — | — | — |" in markdown

    svg = api.get(f"/v1/sweeps/{sweep['id']}/report/cost.svg", params={"within": 1.0})
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert b"Top-1 against latency" in svg.content and b"resnet14" in svg.content and b"teacher 92.00%" in svg.content
    assert b"1 point below the teacher" in svg.content
    png = api.get(f"/v1/sweeps/{sweep['id']}/report/cost.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")

    assert_error(api.get(f"/v1/sweeps/{sweep['id']}/report", params={"within": -1}), 422, param="within")
    assert_error(api.get(f"/v1/sweeps/{sweep['id']}/report/cost.svg", token=api.other_token), 404, "not_found")


def test_a_sweep_without_costs_says_so(api: Api) -> None:
    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    base = {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher": {"job": teacher["id"]}}
    sweep = api.post("/v1/sweeps", json={"base": base, "grid": {"seed": [0, 1]}}).json()
    cost = api.get(f"/v1/sweeps/{sweep['id']}/report", params={"within": 1.0}).json()["cost"]
    assert not cost["available"] and cost["within"]["configuration"] is None
    svg = api.get(f"/v1/sweeps/{sweep['id']}/report/cost.svg")
    assert svg.status_code == 200 and b"no finished member recorded its cost yet" in svg.content
