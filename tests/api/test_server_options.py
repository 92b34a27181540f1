"""How ``sdd api`` serves: forwarded headers believed only from configured proxies, query strings
kept out of the access log (a real uvicorn process each)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from api.server_options import REDACTED_QUERY, RedactQueryStrings, redact_query
from tests.e2e.service_processes import (
    ServiceProcess,
    run_sdd,
    sdd_command,
    service_environment,
    stop_processes,
    wait_until_ready,
)
from tests.fixtures.servers import free_port


def test_query_strings_are_redacted_in_access_records() -> None:
    assert redact_query("/v1/jobs?token=sdd_abc&x=1") == f"/v1/jobs?{REDACTED_QUERY}"
    assert redact_query("/v1/jobs") == "/v1/jobs"
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', None, None)
    record.args = ("127.0.0.1:5000", "GET", "/ui/login?next=/ui&token=sdd_abc", "1.1", 200)
    assert RedactQueryStrings().filter(record) and "sdd_abc" not in record.getMessage()


@contextmanager
def _api(tmp_path: Path, **env: str) -> Iterator[tuple[str, ServiceProcess]]:
    environment = service_environment(tmp_path / "home") | {f"SDD_{k.upper()}": v for k, v in env.items()}
    run_sdd(environment, "migrate")
    port = free_port()
    process = ServiceProcess.start("api", sdd_command("api", "--port", str(port)), environment, tmp_path / "api.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, [process])
        yield url, process
    finally:
        stop_processes([process])


def _statuses_with_rotating_forwarded_for(url: str, count: int) -> list[int]:
    return [
        httpx.get(f"{url}/v1/jobs", headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=10).status_code
        for i in range(count)
    ]


def test_a_client_cannot_pick_its_address_with_x_forwarded_for(tmp_path: Path) -> None:
    with _api(tmp_path, rate_limit_per_minute="60", rate_limit_burst="3") as (url, process):
        statuses = _statuses_with_rotating_forwarded_for(url, 6)
        assert statuses[:3] == [401, 401, 401] and 429 in statuses[3:]  # one address, whatever it claims
        httpx.get(f"{url}/v1/jobs?token=sdd_pasted_secret", timeout=10)
        log = process.log()
    assert "sdd_pasted_secret" not in log and REDACTED_QUERY in log


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    with _api(tmp_path, rate_limit_per_minute="60", rate_limit_burst="3", forwarded_allow_ips="127.0.0.1") as (url, _):
        assert _statuses_with_rotating_forwarded_for(url, 6) == [401] * 6  # each forwarded client its own budget
