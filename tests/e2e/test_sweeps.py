"""A sweep through a running service (API + Celery worker processes): KD and SD-KD over two seeds,
each member trained as a solo job, then its report over REST and the client's command line.

One backend only: the REST tests (tests/api/test_sweeps.py) cover both; the members are normal jobs,
which the other e2e tests train on both.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.e2e.service_processes import REPO_ROOT, RunningService, ServiceError, submit, tiny_job

pytestmark = pytest.mark.slow

SWEEP_TIMEOUT_S = 300.0


@pytest.mark.parametrize("service", ["embedded"], indirect=True)
def test_kd_vs_sd_kd_over_two_seeds(service: RunningService) -> None:
    with service.client("t1") as client:
        teacher = service.wait_for_job(client, submit(client, tiny_job())["id"], {"succeeded"})
        base = tiny_job(method="kd", teacher={"job": teacher["id"]}, metadata={"e2e": "sweep"})
        created = client.post("/v1/sweeps", json={"base": base, "grid": {"method": ["kd", "sd-kd"], "seed": [0, 1]}})
        assert created.status_code == 201, created.text
        sweep = created.json()
        assert [(m["spec"]["method"], m["spec"]["seed"]) for m in sweep["members"]] == [
            ("kd", 0),
            ("kd", 1),
            ("sd-kd", 0),
            ("sd-kd", 1),
        ]

        deadline = time.monotonic() + SWEEP_TIMEOUT_S
        while sweep["status"] not in ("succeeded", "failed", "cancelled"):
            if time.monotonic() > deadline or not all(p.alive() for p in service.processes):
                raise ServiceError(f"sweep {sweep['id']} still {sweep['status']}\n{service.log_tails()}")
            time.sleep(0.5)
            sweep = client.get(f"/v1/sweeps/{sweep['id']}").json()
        assert sweep["status"] == "succeeded", (sweep, service.log_tails())
        assert sweep["progress"]["epoch"] == sweep["progress"]["epochs"] == 4

        for member in sweep["members"]:  # each trained as a solo job: events, metrics, a student
            events = [e["type"] for e in client.get(f"/v1/jobs/{member['id']}/events").json()["data"]]
            assert events[:2] == ["queued", "started"] and events[-1] == "succeeded", events
            assert client.get(f"/v1/jobs/{member['id']}/student").status_code == 200

        report = client.get(f"/v1/sweeps/{sweep['id']}/report").json()
        configurations = {c["label"]: c for c in report["configurations"]}
        assert list(configurations) == ["kd", "sd-kd, β 2, scales [1, 2, 4]"]
        for configuration in configurations.values():
            assert configuration["seeds"] == [0, 1] and 0 <= configuration["final_top1"]["mean"] <= 100
            assert configuration["images_per_s"]["mean"] > 0 and configuration["wall_seconds"]["mean"] > 0
        gain = configurations["sd-kd, β 2, scales [1, 2, 4]"]["gain"]
        assert gain["n"] == 2 and gain["half_width"] is not None
        assert report["recommendation"]["text"]
        svg = client.get(f"/v1/sweeps/{sweep['id']}/report/curves.svg")
        assert svg.status_code == 200 and svg.content.count(b" \xc2\xb7 seed ") == 4  # one legend entry per member

    markdown = subprocess.run(
        [sys.executable, "-m", "sdd_client", "sweeps", "report", sweep["id"], "--markdown"]
        + ["--url", service.url, "--token", service.tokens["t1"]],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert markdown.returncode == 0, markdown.stderr
    assert (
        markdown.stdout.startswith(f"# Sweep {sweep['id']}\n") and report["recommendation"]["text"] in markdown.stdout
    )
