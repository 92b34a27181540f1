"""A pruned search through a running service, on both backends, with its worker killed between two rungs.

Six SD-KD trials drawn over β and the scales, trained as one lockstep group, pruned by successive
halving (η 3: rungs at epochs 1 and 3 of 4). Once rung 1 is decided (4 of 6 trials pruned), the
worker is SIGKILLed; a new ``sdd worker`` takes over through the reaper: the pruned trials end
``pruned`` without training again, the two that went on resume from their checkpoints, rung 2
keeps one, and the report shows every trial's rung and the images trained against the grid of six
trials trained to the end.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.service_processes import RunningService, ServiceError, tiny_job
from tests.e2e.test_uploads_and_failures import resnet8_weights

pytestmark = pytest.mark.slow

SEARCH_TIMEOUT_S = 300.0
EPOCHS = 4
TRIALS = 6


def _sweep(client: httpx.Client, sweep_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/sweeps/{sweep_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _wait(service: RunningService, what: str, check: Any) -> Any:
    deadline = time.monotonic() + SEARCH_TIMEOUT_S
    while not (found := check()):
        if time.monotonic() > deadline or not all(p.alive() for p in service.processes):
            raise ServiceError(f"waited in vain for {what}\n{service.log_tails()}")
        time.sleep(0.2)
    return found


def _events(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    return client.get(f"/v1/jobs/{job_id}/events").json()["data"]


def test_a_pruned_search_survives_its_worker_killed_between_two_rungs(service: RunningService) -> None:
    with service.client("t1") as client:
        uploaded = client.post(  # a resnet8 teacher of random weights: the search's rules do not need a good one
            "/v1/models",
            files={"file": ("teacher.safetensors", resnet8_weights(), "application/octet-stream")},
            data={"arch": "resnet8", "num_classes": "10"},
        )
        assert uploaded.status_code == 201, uploaded.text
        base = tiny_job(method="sd-kd", teacher={"model": uploaded.json()["id"]}, hyperparameters={"epochs": EPOCHS})
        search = {
            "trials": TRIALS,
            "space": {"beta": {"low": 0.25, "high": 8, "log": True}, "scales": [[1, 2], [1, 2, 4]]},
            "pruning": {"min_epochs": 1, "reduction_factor": 3},
            "seed": 3,
        }
        created = client.post("/v1/sweeps", json={"name": "search", "base": base, "search": search})
        assert created.status_code == 201, created.text
        sweep = created.json()
        members = [m["id"] for m in sweep["members"]]
        assert len(members) == TRIALS and len(sweep["groups"]) == 1  # one lockstep group
        assert [m["spec"]["beta"] for m in sweep["members"]] == [t["beta"] for t in sweep["trials"]]
        assert [m["name"] for m in sweep["members"]][0].startswith("search trial 1 ")

        # Rung 1 decided: 6 // 3 = 2 go on, 4 are pruned (asked to stop, or stopped already).
        decided = _wait(
            service, "rung 1", lambda: [m for m in _sweep(client, sweep["id"])["members"] if m["status_reason"]]
        )
        replacement = service.kill_worker_and_start_another()
        before_kill = {m["id"] for m in decided}
        assert len(before_kill) == 4, decided
        assert all(m["status_reason"].startswith("pruned at rung 1 (epoch 1): val top-1") for m in decided)

        sweep = _wait(
            service,
            "the search to finish",
            lambda: (s := _sweep(client, sweep["id"]))["status"] not in ("queued", "running") and s,
        )
        assert sweep["status"] == "succeeded", (sweep["status"], service.log_tails())
        assert sweep["progress"]["members"]["pruned"] == 5 and sweep["progress"]["members"]["succeeded"] == 1
        assert sweep["progress"]["fraction"] == 1.0
        by_id = {m["id"]: m for m in sweep["members"]}
        for job_id in before_kill:  # the decision taken before the kill stands; none trained again
            job = by_id[job_id]
            assert job["status"] == "pruned" and job["error"] is None
            assert job["status_reason"].startswith("pruned at rung 1 (epoch 1)")
            types = [e["type"] for e in _events(client, job_id)]
            assert "resumed" not in types and types[-1] == "pruned", types
            epochs = [row["epoch"] for row in client.get(f"/v1/jobs/{job_id}/metrics").json()["data"]]
            assert epochs == [1], epochs
            assert client.get(f"/v1/jobs/{job_id}/student").status_code == 409  # no student: it never finished
        went_on = [job_id for job_id in members if job_id not in before_kill]
        for job_id in went_on:  # trained again by the new worker (from their checkpoint when one was stored
            # before the kill: the rung is decided before the last trial's checkpoint), each epoch recorded once
            types = [e["type"] for e in _events(client, job_id)]
            assert "rung" in types and "requeued" in types and types.count("started") == 2, types
            epochs = [row["epoch"] for row in client.get(f"/v1/jobs/{job_id}/metrics").json()["data"]]
            assert epochs == list(range(1, len(epochs) + 1)), epochs
        (winner,) = [job_id for job_id in went_on if by_id[job_id]["status"] == "succeeded"]
        assert client.get(f"/v1/jobs/{winner}/student").status_code == 200
        (loser,) = [job_id for job_id in went_on if job_id != winner]
        assert by_id[loser]["status_reason"].startswith("pruned at rung 2 (epoch 3)")
        assert "resumed" in replacement.log() or "resum" in replacement.log(), replacement.log_tail()

        report = client.get(f"/v1/sweeps/{sweep['id']}/report").json()["search"]
        assert [(r["rung"], r["epoch"], r["decided"], r["contenders"], len(r["kept"])) for r in report["rungs"]] == [
            (1, 1, True, 6, 2),
            (2, 3, True, 2, 1),
        ]
        assert set(report["rungs"][0]["pruned"]) == before_kill
        trials = {t["job_id"]: t for t in report["trials"]}
        assert trials[winner]["rungs_passed"] == 2 and trials[winner]["pruned_at_rung"] is None
        assert trials[loser]["pruned_at_rung"] == 2 and len(trials[loser]["rung_top1"]) == 2
        assert all(trials[j]["pruned_at_rung"] == 1 and trials[j]["epochs"] == 1 for j in before_kill)
        assert report["best"] == winner
        full_epoch = report["grid_images"] // (TRIALS * EPOCHS)
        assert full_epoch > 0 and trials[winner]["images_trained"] == EPOCHS * full_epoch
        assert report["images_trained"] == sum(t["images_trained"] for t in report["trials"])
        # 6 trials × 1 epoch + 2 × 2 more + 1 × 1 more = 11 of 24 epochs, plus the batches pruned trials
        # trained of the epoch they stopped in.
        assert 11 * full_epoch <= report["images_trained"] < 12 * full_epoch
        markdown = client.get(f"/v1/sweeps/{sweep['id']}/report", params={"format": "markdown"}).text
        assert "## Search" in markdown and "pruned at rung 1" in markdown and "**(best)**" in markdown
