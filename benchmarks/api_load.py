"""API load: concurrent clients submitting and polling jobs, beside a bare endpoint on the same server.

    python -m benchmarks.api_load [--clients 8] [--duration 20] [--polls-per-submit 4] [--postgres]

Starts the API the way ``sdd api`` does (uvicorn, one process, its default settings) on 127.0.0.1
in a child process, on the embedded default (SQLite + file broker in a temp folder) or, with
``--postgres``, on a private PostgreSQL. Its app is ``create_app`` plus one route only this
benchmark adds, ``GET /bench/bare`` (a plain sync FastAPI handler returning a constant, behind the
same middleware: security headers and rate limit), so the floor the framework itself sets is
measured by the same server at the same time.

Each client (an asyncio task with its own connection) loops: ``POST /v1/jobs``, then
``--polls-per-submit`` rounds of ``GET /v1/jobs/{id}`` of one of its jobs and ``GET /bench/bare``,
interleaved, until ``--duration`` seconds or ``--max-requests`` requests. No worker runs: jobs
stay queued. The limits are raised for the run (``SDD_MAX_JOBS_IN_FLIGHT``, the rate limit) so they
are exercised but never refuse. Prints, per kind: requests, req/s, p50 and p99 latency; the ratio
of the poll's p99 to the bare endpoint's (target <= 3); and the error count (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from api.app import create_app
from benchmarks.local_service import free_port, prepare_service
from benchmarks.paired import Ratio, paired_ratio
from tests.fixtures.servers import running_postgres, wait_until_answering

KINDS = ("POST /v1/jobs", "GET /v1/jobs/{id}", "GET /bench/bare")
JOB = {"dataset": "digits", "student": "resnet8", "method": "ce", "hyperparameters": {"epochs": 1}}
LOAD_SETTINGS = {"rate_limit_per_minute": 60_000_000, "rate_limit_burst": 1_000_000, "max_jobs_in_flight": 10_000_000}


def bench_app() -> FastAPI:
    """The service's app from the environment's settings, plus ``GET /bench/bare`` (uvicorn --factory)."""
    app = create_app()

    @app.get("/bench/bare", include_in_schema=False)
    def bare() -> dict[str, str]:
        return {"status": "ok"}

    return app


@contextmanager
def api_server(env: dict[str, str]) -> Iterator[str]:
    """``uvicorn benchmarks.api_load:bench_app`` in a child process; yields its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.api_load:bench_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_answering(f"{url}/healthz", process, timeout=60, interval=0.1):
            raise RuntimeError(f"the API did not start (exit code {process.poll()})")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Recorder:
    """Latencies by kind, errors, and the shared stop condition."""

    def __init__(self, deadline: float, max_requests: int) -> None:
        self.latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.finished: dict[str, list[float]] = {kind: [] for kind in KINDS}  # when each answer came
        self.errors: list[str] = []
        self.deadline = deadline
        self.max_requests = max_requests
        self.sent = 0

    def more(self) -> bool:
        return time.monotonic() < self.deadline and self.sent < self.max_requests

    async def timed(self, kind: str, request: Awaitable[httpx.Response], expected: int) -> httpx.Response | None:
        self.sent += 1
        started = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError as exc:
            self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        self.latencies[kind].append(time.perf_counter() - started)
        self.finished[kind].append(time.monotonic())
        if response.status_code != expected:
            self.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
            return None
        return response


async def client_loop(url: str, token: str, polls: int, recorder: Recorder, seed: int) -> None:
    rng = random.Random(seed)
    jobs: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        while recorder.more():
            created = await recorder.timed(KINDS[0], client.post("/v1/jobs", json=JOB), 201)
            if created is not None:
                jobs.append(created.json()["id"])
            for _ in range(polls):
                if jobs and recorder.more():
                    await recorder.timed(KINDS[1], client.get(f"/v1/jobs/{rng.choice(jobs)}"), 200)
                if recorder.more():
                    await recorder.timed(KINDS[2], client.get("/bench/bare"), 200)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


WINDOWS = 5


def window_ratio(recorder: Recorder, windows: int) -> Ratio | None:
    """The p99 ratio job read / bare in each of ``windows`` equal slices of the run (None if one is empty)."""
    stamps = [stamp for kind in KINDS[1:] for stamp in recorder.finished[kind]]
    if not stamps:
        return None
    start, end = min(stamps), max(stamps) + 1e-9
    width = (end - start) / windows
    p99s: dict[str, list[float]] = {kind: [] for kind in KINDS[1:]}
    for index in range(windows):
        low, high = start + index * width, start + (index + 1) * width
        for kind in KINDS[1:]:
            inside = [
                latency
                for latency, stamp in zip(recorder.latencies[kind], recorder.finished[kind], strict=True)
                if low <= stamp < high
            ]
            if not inside:
                return None
            p99s[kind].append(percentile(inside, 0.99))
    return paired_ratio(p99s[KINDS[2]], p99s[KINDS[1]])


def report(recorder: Recorder, seconds: float, args: argparse.Namespace, backend: str) -> float:
    print(f"api_load: {args.clients} clients, {seconds:.1f} s, {backend}, polls per submit {args.polls_per_submit}")
    print(f"{'kind':<20} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for kind in KINDS:
        values = recorder.latencies[kind]
        print(
            f"{kind:<20} {len(values):>9} {len(values) / seconds:>8.1f} "
            f"{1000 * percentile(values, 0.50):>8.2f} {1000 * percentile(values, 0.99):>8.2f}"
        )
    total = sum(len(values) for values in recorder.latencies.values())
    ratio = percentile(recorder.latencies[KINDS[1]], 0.99) / percentile(recorder.latencies[KINDS[2]], 0.99)
    print(f"all: {total} requests, {total / seconds:.1f} req/s")
    print(f"p99 ratio GET /v1/jobs/{{id}} / bare: {ratio:.2f} over the whole run (target <= 3)")
    windows = window_ratio(recorder, WINDOWS)
    if windows is not None:
        print(f"  the same in {WINDOWS} equal time windows (the two kinds interleaved in each): {windows.describe()}")
    print(f"errors: {len(recorder.errors)}")
    for error in recorder.errors[:10]:
        print(f"  {error}")
    return ratio


async def run_load(url: str, token: str, args: argparse.Namespace) -> tuple[Recorder, float]:
    async with httpx.AsyncClient(base_url=url) as warm:  # first requests pay for imports and caches
        for _ in range(20):
            await warm.post("/v1/jobs", json=JOB, headers={"Authorization": f"Bearer {token}"})
            await warm.get("/bench/bare")
    started = time.monotonic()
    recorder = Recorder(started + args.duration, args.max_requests)
    await asyncio.gather(
        *(client_loop(url, token, args.polls_per_submit, recorder, seed) for seed in range(args.clients))
    )
    return recorder, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (after a short warm-up)")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--polls-per-submit", type=int, default=4)
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL instead of SQLite")
    args = parser.parse_args()

    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sdd-load-"))) / "sdd_home"
        database_url = None
        if args.postgres:
            server = stack.enter_context(running_postgres())
            database_url = server.url(server.create_database("sdd_load"))
        service = prepare_service(home, tenants=("load",), database_url=database_url, **LOAD_SETTINGS)
        env = {name: value for name, value in os.environ.items() if not name.startswith("SDD_")}
        env |= {"SDD_HOME": str(home), **{f"SDD_{k.upper()}": str(v) for k, v in LOAD_SETTINGS.items()}}
        if database_url:
            env["SDD_DATABASE_URL"] = database_url
        url = stack.enter_context(api_server(env))
        recorder, seconds = asyncio.run(run_load(url, service.tokens["load"], args))
    ratio = report(recorder, seconds, args, "PostgreSQL" if args.postgres else "SQLite (embedded default)")
    return 0 if not recorder.errors and ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
