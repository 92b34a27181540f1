"""A job on N devices that no live worker serves says so in its events and stays queued."""

from __future__ import annotations

from datetime import timedelta

from domain.recovery.worker_nodes import WAITING_EVENT, note_unserved, record_worker
from service.db.models import Job, utcnow
from tests.api.conftest import Api


def _events(api: Api, job_id: str) -> list[dict]:
    return api.get(f"/v1/jobs/{job_id}/events").json()["data"]


def test_an_unserved_device_count_is_said_once_and_a_live_worker_silences_it(api: Api) -> None:
    job = api.create_job(devices=2)
    waiting = [e for e in _events(api, job["id"]) if e["type"] == WAITING_EVENT]
    assert len(waiting) == 1 and "sdd worker --devices 2" in waiting[0]["message"], _events(api, job["id"])
    assert api.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued"
    with api.session() as session:
        row = session.get(Job, job["id"])
        assert note_unserved(session, [row], api.settings.worker_alive_seconds) == []  # said once only

    assert not [e for e in _events(api, api.create_job()["id"]) if e["type"] == WAITING_EVENT]  # 1 device

    with api.session() as session:
        record_worker(session, "node-a:1", devices=2)
    served = api.create_job(devices=2)
    assert not [e for e in _events(api, served["id"]) if e["type"] == WAITING_EVENT]

    with api.session() as session:  # that worker went quiet: gone
        record_worker(session, "node-a:1", devices=2, now=utcnow() - timedelta(hours=1))
    unserved = api.create_job(devices=2)
    assert [e["type"] for e in _events(api, unserved["id"])].count(WAITING_EVENT) == 1
