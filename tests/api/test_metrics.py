"""``/metrics``: who may read it, HTTP traffic by route template, and the state gauges from SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape by (name, labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped[(name, frozenset(labels.items()))]


def test_metrics_refused_to_an_address_not_allowed_and_without_the_token(api: Api) -> None:
    # the test client's address is not an allowed one (loopback by default)
    error = assert_error(api.client.get("/metrics"), 403, "forbidden")
    assert "SDD_METRICS_ALLOWED_IPS" in error["message"]
    # a tenant's API token is not the metrics token
    assert_error(api.get("/metrics"), 403, "forbidden")


def test_metrics_served_to_loopback_by_default(sdd_env: Any, sqlite_template: Path) -> None:
    settings = sqlite_settings(sdd_env, sqlite_template)
    with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as local:
        response = local.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert ("sdd_jobs", frozenset({("status", "queued")})) in samples(response.text)


def test_requests_counted_by_route_template_and_state_read_from_sql(sdd_env: Any, sqlite_template: Path) -> None:
    settings = sqlite_settings(sdd_env, sqlite_template, metrics_token="scrape-secret-1234")
    for api in make_api(settings):
        jobs = [api.create_job()["id"] for _ in range(3)]
        api.succeed_job(jobs[0])
        for job_id in jobs:
            assert api.get(f"/v1/jobs/{job_id}").status_code == 200
        assert api.get("/v1/jobs/job_000000000000000000000000").status_code == 404
        assert api.client.get("/no/such/page").status_code == 404

        response = api.client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1234"})
        assert response.status_code == 200, response.text
        scraped = samples(response.text)

        # one series per route template: four GETs of /v1/jobs/{job_id}, never a job id
        assert value(scraped, "sdd_http_requests_total", route="/v1/jobs/{job_id}", method="GET", status="200") == 3
        assert value(scraped, "sdd_http_requests_total", route="/v1/jobs/{job_id}", method="GET", status="404") == 1
        assert value(scraped, "sdd_http_requests_total", route="/v1/jobs", method="POST", status="201") == 3
        assert value(scraped, "sdd_http_requests_total", route="<unmatched>", method="GET", status="404") == 1
        assert not any(job_id in str(labels) for _, labels in scraped for job_id in jobs)
        count = value(scraped, "sdd_http_request_duration_seconds_count", route="/v1/jobs/{job_id}", method="GET")
        assert count == 4

        # the state, from SQL: two queued, one succeeded, on the one-device queue
        assert value(scraped, "sdd_jobs", status="queued") == 2
        assert value(scraped, "sdd_jobs", status="succeeded") == 1
        assert value(scraped, "sdd_jobs", status="failed") == 0
        queue = settings.queue_name
        depth = {dict(labels)["queue"]: v for (name, labels), v in scraped.items() if name == "sdd_queue_jobs"}
        assert sum(depth.values()) == 2 and depth[queue] == 2, depth
        assert value(scraped, "sdd_queue_oldest_age_seconds", queue=queue) >= 0
        assert value(scraped, "sdd_dataset_ingestion_done_ratio") == 1.0

        # a wrong token is refused like no token
        wrong = api.client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-12345"})
        assert_error(wrong, 403, "forbidden")
