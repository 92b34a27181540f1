"""``sdd health worker``: healthy only while a worker of this host recorded itself alive recently."""

from __future__ import annotations

import socket
from datetime import timedelta

from click.testing import CliRunner

from domain.recovery.worker_nodes import record_worker
from sdd_cli.main import cli
from service import migrate
from service.db.models import utcnow
from service.db.session import session_scope


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["health", "worker", *args])
    return result.exit_code, result.output


def test_healthy_while_a_worker_of_this_host_was_seen_within_the_window(sdd_env) -> None:
    settings = sdd_env(job_lease_seconds=120)  # reaper every 30 s: alive within 90 s
    migrate.upgrade(settings.database_url)
    code, output = _check()
    assert code == 1 and "no worker on" in output  # none recorded yet

    host = socket.gethostname()
    with session_scope(settings) as session:
        record_worker(session, "other-host:1", 1)  # another node's worker says nothing about this one
    assert _check()[0] == 1

    with session_scope(settings) as session:
        record_worker(session, f"{host}:4242", 1, now=utcnow() - timedelta(seconds=100))
    code, output = _check()
    assert code == 1 and "90 s" in output  # seen, but longer ago than three reaper passes
    assert _check("--within", "120")[0] == 0

    with session_scope(settings) as session:
        record_worker(session, f"{host}:4242", 1)
    code, output = _check()
    assert code == 0 and f"1 worker(s) on {host}" in output


def test_a_database_that_does_not_answer_is_unhealthy_in_one_line(sdd_env) -> None:
    sdd_env()  # not migrated: no worker_nodes table
    code, output = _check()
    assert code == 1
    assert output.startswith("unhealthy: the database did not answer") and "Traceback" not in output
