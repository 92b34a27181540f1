"""The database goes away: PostgreSQL stopped outright while a job trains, then started again.

Nothing may be lost: the API answers 503 with Retry-After meanwhile and recovers by itself; the
worker waits to write what it could not (an epoch, a checkpoint) and trains on; the lease and the
reaper do not mistake the gap for a lost worker.
"""

from __future__ import annotations

import time

import httpx
import pytest

from service import tokens
from service.db.session import session_scope
from tests.faults.cluster import Cluster, tiny_spec
from tests.fixtures.servers import PostgresServer, free_port

pytestmark = pytest.mark.slow

DOWN_S = 4.0
JOB_TIMEOUT_S = 180.0


def test_a_postgres_restart_while_a_job_trains_loses_nothing(cluster: Cluster, postgres_server: PostgresServer):
    worker = cluster.start_worker()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cluster.start_api(port)
    with session_scope(cluster.settings) as session:
        token, _ = tokens.create_token(session, "faults")  # the tenant the cluster submits for
    auth = {"Authorization": f"Bearer {token}"}
    job_id = cluster.submit(tiny_spec(epochs=12))  # still training when PostgreSQL is back
    cluster.wait_for(lambda: cluster.job(job_id).epoch >= 2, JOB_TIMEOUT_S, "two epochs recorded")

    postgres_server.stop()  # immediate: every connection cut
    down_at = time.monotonic()
    during = httpx.get(f"{url}/v1/jobs/{job_id}", headers=auth, timeout=30)
    assert during.status_code == 503 and during.json()["error"]["code"] == "database_unavailable"
    assert during.headers["Retry-After"].isdigit()
    time.sleep(max(0.0, DOWN_S - (time.monotonic() - down_at)))
    postgres_server.start()

    cluster.wait_terminal([job_id], JOB_TIMEOUT_S)
    job = cluster.job(job_id)
    assert job.status == "succeeded", (job.error_code, job.error_message, worker.log_tail())
    assert job.attempts == 1  # trained through: never handed to another attempt
    cluster.check_no_loss([job_id])  # every epoch recorded once
    reasons = [(event.data or {}).get("reason") for event in cluster.events(job_id)]
    assert "lease_expired" not in reasons
    after = httpx.get(f"{url}/v1/jobs/{job_id}", headers=auth, timeout=30)
    assert after.status_code == 200 and after.json()["status"] == "succeeded"  # the API recovered by itself
    assert "the database is unreachable" in worker.log() or "could not renew the lease" in worker.log()
