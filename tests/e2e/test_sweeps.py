"""A sweep through a running service (API + Celery worker processes), on both backends (embedded,
PostgreSQL + Redis): KD and SD-KD over two seeds, then its report over REST and the client's
command line.

The KD and SD-KD members of one seed draw the same batches: they form one lockstep group, which the
worker trains in one task (``worker.lockstep``); each member still ends as a job of its own, with
its own events, metrics and student.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.e2e.service_processes import REPO_ROOT, RunningService, ServiceError, submit, tiny_job

pytestmark = pytest.mark.slow

SWEEP_TIMEOUT_S = 300.0


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
        by_seed = [[m["id"] for m in sweep["members"] if m["spec"]["seed"] == seed] for seed in (0, 1)]
        assert sorted(group["members"] for group in sweep["groups"]) == sorted(by_seed)  # one group per seed

        deadline = time.monotonic() + SWEEP_TIMEOUT_S
        while sweep["status"] not in ("succeeded", "failed", "cancelled"):
            if time.monotonic() > deadline or not all(p.alive() for p in service.processes):
                raise ServiceError(f"sweep {sweep['id']} still {sweep['status']}\n{service.log_tails()}")
            time.sleep(0.5)
            sweep = client.get(f"/v1/sweeps/{sweep['id']}").json()
        assert sweep["status"] == "succeeded", (sweep, service.log_tails())
        assert sweep["progress"]["epoch"] == sweep["progress"]["epochs"] == 4
        together = [line for line in service.worker.log().splitlines() if "training in lockstep with" in line]
        for kd, sd_kd in by_seed:  # each group in one task
            assert any(kd in line and sd_kd in line for line in together), (by_seed, together)

        for member in sweep["members"]:  # each a job of its own: events, metrics, a student
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
