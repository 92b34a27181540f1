"""An operator's view of a running service: a real Prometheus scrapes the API and a prefork worker,
and every log line is a JSON object naming its request, job and tenant.

One service (``sdd api`` + ``sdd worker`` with its default prefork pool, SDD_LOG_FORMAT=json, the
worker's exporter on a free port) and one Prometheus scraping both every second with the shipped
alert rules loaded. Three jobs: two trained, one cancelled. Then PromQL answers the counts, the
dashboard's every query runs, and the logs tell each job's and request's story without a token.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from sdd_core.data.digits import DIGITS_TRAIN_SIZE
from tests.e2e.service_processes import running_service, submit, tiny_job
from tests.fixtures.prometheus import running_prometheus
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.slow  # a service, a worker pool and a Prometheus started, two jobs trained

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def json_lines(text: str) -> list[dict[str, Any]]:
    """The log's JSON lines (Celery's start banner and a crash's raw output are not log records)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_prometheus_scrapes_both_roles_and_logs_carry_ids(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = {"SDD_LOG_FORMAT": "json", "SDD_WORKER_METRICS_PORT": str(metrics_port)}
    with running_service(tmp_path / "service", extra_env=env, worker_args=("--concurrency", "1")) as service:
        api_target = service.url.removeprefix("http://")
        jobs = {"sdd-api": [api_target], "sdd-worker": [f"127.0.0.1:{metrics_port}"]}
        rules = [DEPLOY / "prometheus" / "alerts.yml"]
        with running_prometheus(tmp_path / "prometheus", jobs, rules) as prometheus, service.client() as client:
            first = client.post("/v1/jobs", json=tiny_job(), headers={"X-Request-ID": "submit-first-job"})
            assert first.status_code == 201, first.text
            assert first.headers["X-Request-ID"] == "submit-first-job"
            second = submit(client, tiny_job(hyperparameters={"epochs": 4}))
            third = submit(client, tiny_job())
            assert client.post(f"/v1/jobs/{third['id']}/cancel").status_code == 202
            service.wait_for_job(client, first.json()["id"], {"succeeded"})
            # while the second trains, its pool process reports its speed (gone with the process)
            prometheus.wait_for('count(sdd_training_images_per_second{job="sdd-worker"} > 0)', 1)
            service.wait_for_job(client, second["id"], {"succeeded"})
            service.wait_for_job(client, third["id"], {"cancelled"})

            # the API's gauges, read from SQL; the worker's counters, from its pool child
            prometheus.wait_for('sum(sdd_jobs{job="sdd-api",status="succeeded"})', 2)
            prometheus.wait_for('sum(sdd_jobs{job="sdd-api",status="cancelled"})', 1)
            prometheus.wait_for('sum(sdd_jobs{job="sdd-api",status=~"queued|running"})', 0)
            prometheus.wait_for('sum(sdd_jobs_finished_total{job="sdd-worker",status="succeeded"})', 2)
            prometheus.wait_for('sum(sdd_training_epochs_total{job="sdd-worker"})', 5)
            prometheus.wait_for('sum(sdd_worker_jobs_running{job="sdd-worker"})', 0)
            prometheus.wait_for('max(sdd_workers_alive{job="sdd-api",queue="training"})', 1)
            posts = 'sum(sdd_http_requests_total{job="sdd-api",route="/v1/jobs",method="POST",status="201"})'
            prometheus.wait_for(posts, 3)
            assert prometheus.value('sum(sdd_training_epoch_seconds_count{job="sdd-worker"})') == 5
            images = prometheus.value('sum(sdd_training_images_total{job="sdd-worker"})')
            held_out = client.get(f"/v1/jobs/{second['id']}").json()["result"]["protocol"]["held_out"]["images"]
            trained = DIGITS_TRAIN_SIZE - held_out  # the training split less its held-out validation part
            assert images == pytest.approx(trained * 5, rel=0.01)  # epochs: 1 + 4
            assert prometheus.value("time() - max(sdd_lease_renewed_timestamp_seconds)") is not None
            # no job id is a label anywhere
            series = prometheus.query('{__name__=~"sdd_.+"}')
            assert not any(re.search(r"job_[0-9a-f]{24}", json.dumps(s["metric"])) for s in series)

            # every dashboard query runs; the alert rules load and none fires here
            dashboard = json.loads((DEPLOY / "grafana" / "sdd-jobs.json").read_text())
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    prometheus.query(target["expr"])
            loaded = prometheus.rules()
            assert len(loaded) == 6 and all(rule["health"] == "ok" for rule in loaded), loaded
            assert [rule["name"] for rule in loaded if rule["state"] == "firing"] == []

        # a group SIGTERM, as `sdd up`, systemd or Ctrl-C send it: main process and pool child at once
        worker = psutil.Process(service.worker.pid)
        for process in [worker, *worker.children(recursive=True)]:
            process.send_signal(signal.SIGTERM)
        service.worker.process.wait(timeout=30)
        time.sleep(0.5)

    api_lines, worker_lines = json_lines(service.api.log()), json_lines(service.worker.log())
    token = service.tokens["t1"]
    assert token not in service.api.log() and token not in service.worker.log()

    # the access line of the first submission names its request and its tenant
    request = [line for line in api_lines if line.get("request_id") == "submit-first-job"]
    (submitted,) = [line for line in request if line["logger"] == "uvicorn.access"]
    assert "POST /v1/jobs" in submitted["message"] and " 201" in submitted["message"]
    tenant = submitted["tenant_id"]
    assert tenant.startswith("tnt_") and {line["tenant_id"] for line in request} == {tenant}

    # every job's story in the worker's log: its lines carry its id and its tenant's
    for job_id in (first.json()["id"], second["id"]):
        story = [line for line in worker_lines if line.get("job_id") == job_id]
        messages = " | ".join(line["message"] for line in story)
        assert "claimed by" in messages and "epoch" in messages and "succeeded" in messages, messages
        assert {line["tenant_id"] for line in story} == {tenant}
    # a normal stop logs no error: the pool child ended by SIGTERM is INFO
    assert [line for line in worker_lines if line["level"] in ("ERROR", "CRITICAL")] == []
