"""The client survives what a long poll meets: a rate limit, an API restart, a lost answer.

Real ``sdd api`` processes on loopback (the embedded default, one SQLite file shared with the
test, which plays the worker by writing the job's transitions itself).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from domain.jobs import transitions
from sdd_client import SDDClient
from sdd_client.errors import ServiceUnreachable
from service.db.models import Job
from service.db.session import dispose_engines, session_scope
from service.settings import Settings
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

TINY = {"dataset": "digits", "student": "resnet8", "method": "ce", "image_size": 16, "hyperparameters": {"epochs": 1}}


class Api:
    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.env = service_environment(tmp_path / "home") | {f"SDD_{k.upper()}": v for k, v in env.items()}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "api.log"
        self.settings = Settings(home=tmp_path / "home")
        run_sdd(self.env, "migrate")
        self.token = run_sdd(self.env, "token", "create", "--tenant", "retries").strip().splitlines()[-1]
        self.process: ServiceProcess | None = None

    def start(self) -> None:
        self.process = ServiceProcess.start("api", sdd_command("api", "--port", str(self.port)), self.env, self.log)
        wait_until_ready(self.url, [self.process])

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process])


@contextmanager
def running_api(tmp_path: Path, **env: str) -> Iterator[Api]:
    api = Api(tmp_path, **env)
    api.start()
    try:
        yield api
    finally:
        api.stop()
        dispose_engines()


def test_reads_wait_out_a_rate_limit(tmp_path: Path) -> None:
    with running_api(tmp_path, rate_limit_per_minute="60", rate_limit_burst="2") as api:
        pauses: list[float] = []
        with SDDClient(api.url, api.token) as client:
            client._sleep = lambda seconds: (pauses.append(seconds), time.sleep(seconds))
            pages = [client.list_jobs() for _ in range(5)]  # past the burst: 429s, each waited out
        assert all(page.data == [] for page in pages)
        assert pauses and all(0 < pause <= 5 for pause in pauses)  # the server's Retry-After, honoured


def test_watch_survives_an_api_restart(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        with SDDClient(api.url, api.token) as client:
            job = client.submit(TINY)
        env = api.env | {"SDD_URL": api.url, "SDD_TOKEN": api.token}
        watcher = subprocess.Popen(
            [sys.executable, "-m", "sdd_cli", "jobs", "watch", job.id, "--poll", "0.5"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert api.process is not None
            # The watch has polled the job at least once (its start takes seconds on a busy machine).
            api.process.wait_for_log(re.compile(rf'"GET /v1/jobs/{job.id} HTTP/1.1" 200'), timeout=60)
            api.process.signal(signal.SIGKILL)
            api.process.process.wait()
            time.sleep(2.0)  # the API is down: the watch keeps trying
            assert watcher.poll() is None, watcher.communicate()
            api.start()  # back on the same port
            with session_scope(api.settings) as session:  # the job trains and finishes meanwhile
                assert transitions.claim(session, job.id, "test-worker", 60)
                transitions.finish(session, job.id, "succeeded", result={"val_top1": 50.0}, worker="test-worker")
            out, err = watcher.communicate(timeout=60)
        finally:
            if watcher.poll() is None:
                watcher.kill()
        assert watcher.returncode == 0, (out, err)
        assert "succeeded" in out


def _read_message(sock: socket.socket) -> bytes:
    """One HTTP/1.1 message (headers, then a Content-Length body) from ``sock``; b"" at its end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b""
        body += chunk
    return head + b"\r\n\r\n" + body


class _AnswerDropper:
    """A loopback HTTP proxy to the API that forwards every request but drops the answer to the
    first one containing ``marker``: the server does the work, the client never hears of it."""

    def __init__(self, upstream_port: int, marker: bytes) -> None:
        self.marker = marker
        self.dropped = 0
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(downstream,), daemon=True).start()

    def _serve(self, downstream: socket.socket) -> None:
        with downstream, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            try:
                while request := _read_message(downstream):
                    upstream.sendall(request)
                    answer = _read_message(upstream)
                    if self.marker in request and self.dropped == 0:
                        self.dropped += 1
                        return  # the job was created; close without a word
                    downstream.sendall(answer)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()


def test_a_submission_whose_answer_is_lost_is_retried_with_its_key_and_makes_one_job(tmp_path: Path) -> None:
    with running_api(tmp_path) as api:
        proxy = _AnswerDropper(api.port, marker=b"POST /v1/jobs")
        try:
            with SDDClient(f"http://127.0.0.1:{proxy.port}", api.token) as client:
                client.catalog()  # the server has answered this client: a lost answer is worth a retry
                job = client.submit(TINY)
        finally:
            proxy.close()
        assert proxy.dropped == 1
        with session_scope(api.settings) as session:
            assert session.scalar(select(func.count()).select_from(Job)) == 1
            assert session.get(Job, job.id) is not None


def test_a_wrong_url_fails_at_once(tmp_path: Path) -> None:
    with SDDClient(f"http://127.0.0.1:{free_port()}", "sdd_x") as client, pytest.raises(ServiceUnreachable):
        client.list_jobs()
