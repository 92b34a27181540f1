"""How ``sdd api`` serves: forwarded headers believed only from configured proxies, query strings
kept out of the access log, slow and greedy connections bounded, request framing a proxy could
misread refused (a real uvicorn process each)."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

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

pytestmark = pytest.mark.slow  # processes started, models trained: see README


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


def _connect(port: int, source: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    sock.settimeout(15)
    return sock


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the server closes ``sock`` within ``within_s`` (reads return end of file)."""
    sock.settimeout(within_s)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


SLOW_SOCKETS = 30
PARTIAL_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"  # no blank line: the headers never end


@pytest.fixture(scope="module")
def guarded_api(tmp_path_factory) -> Iterator[tuple[str, ServiceProcess]]:
    """One ``sdd api`` with a 2 s header deadline, 10 connections per address, 25 in all."""
    env = {"http_header_timeout_s": "2", "http_max_connections_per_client": "10", "http_max_connections": "25"}
    with _api(tmp_path_factory.mktemp("guarded"), **env) as running:
        yield running


def test_half_open_and_trickling_connections_do_not_deny_service(guarded_api) -> None:
    """Slow sockets from one address (127.0.0.2) are capped and closed at the header deadline; a
    normal client (127.0.0.1) is answered all along. Real sockets, bounded in number and time."""
    url, process = guarded_api
    port = int(url.rsplit(":", 1)[1])
    sockets = []
    try:
        for _ in range(SLOW_SOCKETS):
            sock = _connect(port, "127.0.0.2")
            with contextlib.suppress(OSError):
                sock.sendall(PARTIAL_REQUEST)
            sockets.append(sock)
        started = time.monotonic()
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200  # not 503: the cap held the rest off
        refused = sum(_closed_by_server(sock, 0.5) for sock in sockets)
        assert refused >= SLOW_SOCKETS - 10, refused  # the address's 11th connection on: closed at once
        held = [sock for sock in sockets if sock.fileno() != -1]
        assert all(_closed_by_server(sock, 5.0) for sock in held)  # every one by its header deadline
        assert time.monotonic() - started < 10

        trickler = _connect(port, "127.0.0.2")
        opened = time.monotonic()
        closed = False
        for byte in PARTIAL_REQUEST * 4:  # a byte every 0.2 s: never a whole request
            try:
                trickler.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if _closed_by_server(trickler, 0.2):
                closed = True
                break
        assert closed and time.monotonic() - opened < 5, time.monotonic() - opened
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in sockets:
            sock.close()
    assert "no complete request headers within 2 s" in process.log()


def test_length_and_chunked_together_and_oversized_headers_are_refused(guarded_api) -> None:
    """CL + TE with a pipelined request behind it: a 400 and the connection closed, so the second
    request is never answered; a 20 KB header (in one packet) is a 431."""
    url, _ = guarded_api
    port = int(url.rsplit(":", 1)[1])
    sock = _connect(port, "127.0.0.1")
    smuggled = (
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    sock.sendall(smuggled)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400") and answer.count(b"HTTP/1.1 ") == 1, answer
    assert b"not both" in answer
    big = httpx.get(f"{url}/healthz", headers={"X-Big": "a" * 20_000}, timeout=10)
    assert big.status_code == 431 and big.json()["error"]["code"] == "headers_too_large"
