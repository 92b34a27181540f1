"""API footprint: the start time and peak memory of ``sdd api`` against a bare FastAPI app with the
same middlewares.

    python -m benchmarks.api_footprint [--rounds 5] [--before DIR]

``sdd api`` is the real command on its embedded default (SQLite and the file broker under a temp
``SDD_HOME``, migrated first with ``sdd migrate``). The bare app is a file this benchmark writes into
a temp folder: FastAPI with the API's own middlewares, installed as ``create_app`` installs them
(error handlers, security headers, body cap, request framing, JSON guard, rate limit, HTTP metrics,
request ids), and one route, ``GET /healthz``; uvicorn serves it. Both log at ``warning``.

Each round starts every side as a new process, the order rotated from round to round
(``benchmarks.paired``), and measures the seconds from starting it until ``GET /healthz`` answers
200, then its peak resident memory so far (``VmHWM`` in ``/proc/<pid>/status``). Prints per side the
medians, then the ratios sdd api / bare, one per round. Each ``sdd api`` then answers one
``GET /v1/catalog`` (a token from ``sdd token create``): the first catalog loads the model zoo
(torch, torchvision, timm), so its seconds and the peak memory after it are printed too.

``--before DIR`` adds a side: ``sdd api`` run from another checkout of this repository (for the code
before a change: ``mkdir DIR && git archive HEAD | tar -x -C DIR``), in its own ``SDD_HOME``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.local_service import free_port
from benchmarks.paired import paired_ratio

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.01

BARE_APP = '''\
"""A bare FastAPI app with the sdd-jobs API's middlewares and one route (written by benchmarks.api_footprint)."""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from api.errors import install_error_handlers
from api.metrics import HttpMetrics, HttpMetricsMiddleware
from api.request_ids import RequestIdMiddleware
from api.security import install_security
from service.settings import get_settings


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    install_error_handlers(app)
    install_security(app, get_settings())
    app.add_middleware(HttpMetricsMiddleware, metrics=HttpMetrics(CollectorRegistry()))
    app.add_middleware(RequestIdMiddleware)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
'''


@dataclass
class Side:
    """One way of serving ``/healthz``: how to start it, and what was measured of it."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    token: str | None = None  # an sdd api's: it is also asked for its catalog
    start_s: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    catalog_s: list[float] = field(default_factory=list)
    catalog_peak_mb: list[float] = field(default_factory=list)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status: this benchmark reads Linux's /proc")


def measure(side: Side) -> None:
    """Start ``side`` on a free port, time it to its first 200 from /healthz, read its peak memory
    (then, for an sdd api, the same after one GET /v1/catalog), and stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = subprocess.Popen(
        [*side.command, "--port", str(port)],
        cwd=side.cwd,
        env=side.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.perf_counter() - started > START_TIMEOUT_S:
                process.kill()
                _, stderr = process.communicate()
                raise RuntimeError(
                    f"{side.name} did not answer /healthz (exit code {process.poll()}): {stderr[-2000:]}"
                )
            time.sleep(POLL_INTERVAL_S)
        side.start_s.append(time.perf_counter() - started)
        side.peak_mb.append(peak_rss_mb(process.pid))
        if side.token is not None:
            asked = time.perf_counter()
            response = httpx.get(f"{url}/v1/catalog", headers={"Authorization": f"Bearer {side.token}"}, timeout=300)
            response.raise_for_status()
            side.catalog_s.append(time.perf_counter() - asked)
            side.catalog_peak_mb.append(peak_rss_mb(process.pid))
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def sdd_api(name: str, checkout: Path, home: Path) -> Side:
    """``sdd api`` from ``checkout`` (``python -m sdd_cli``, as the ``sdd`` script runs it) on ``home``,
    migrated first, with a token for its catalog."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SDD_")}
    env |= {"SDD_HOME": str(home), "PYTHONPATH": str(checkout)}
    sdd = [sys.executable, "-m", "sdd_cli"]
    subprocess.run([*sdd, "migrate"], cwd=checkout, env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*sdd, "token", "create", "--tenant", "footprint"],
        cwd=checkout,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = created.stdout.strip().splitlines()[-1]
    command = [*sdd, "api", "--host", "127.0.0.1", "--log-level", "warning"]
    return Side(name, command, env, checkout, token=token)


def bare_app(folder: Path, home: Path) -> Side:
    """The bare app of ``BARE_APP``, written into ``folder`` and served by uvicorn."""
    (folder / "bare_api.py").write_text(BARE_APP)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SDD_")}
    env |= {"SDD_HOME": str(home), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "uvicorn", "bare_api:create_app", "--factory", "--app-dir", str(folder)]
    return Side("bare FastAPI", [*command, "--host", "127.0.0.1", "--log-level", "warning"], env, REPO)


def report(sides: list[Side], rounds: int) -> None:
    bare, api, *before = sides
    print(f"api_footprint: {rounds} rounds; each round starts every side as a new process, the order rotated")
    print(f"{'side':<28} {'start s':>8} {'peak RSS MB':>12} {'1st catalog s':>14} {'peak RSS MB after':>18}")
    for side in sides:
        catalog = (
            f"{statistics.median(side.catalog_s):>14.2f} {statistics.median(side.catalog_peak_mb):>18.0f}"
            if side.catalog_s
            else f"{'-':>14} {'-':>18}"
        )
        print(
            f"{side.name:<28} {statistics.median(side.start_s):>8.2f} {statistics.median(side.peak_mb):>12.0f} {catalog}"
        )
    print("(medians; start: from starting the process to GET /healthz's first 200; peak RSS: VmHWM then)")
    for side in (api, *before):
        print(f"ratios {side.name} / {bare.name}:")
        print(f"  start    {paired_ratio(bare.start_s, side.start_s).describe()}")
        print(f"  peak RSS {paired_ratio(bare.peak_mb, side.peak_mb).describe()}")
    for side in before:
        print(f"ratios {api.name} / {side.name}:")
        print(f"  start    {paired_ratio(side.start_s, api.start_s).describe()}")
        print(f"  peak RSS {paired_ratio(side.peak_mb, api.peak_mb).describe()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="new processes per side (default 5)")
    parser.add_argument("--before", type=Path, help="another checkout whose sdd api is measured too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sdd-footprint-") as temp:
        root = Path(temp)
        sides = [bare_app(root, root / "bare_home"), sdd_api("sdd api", REPO, root / "api_home")]
        if args.before is not None:
            sides.append(sdd_api(f"sdd api ({args.before.name})", args.before.resolve(), root / "before_home"))
        for round_ in range(args.rounds):
            shift = round_ % len(sides)
            for side in sides[shift:] + sides[:shift]:
                measure(side)
    report(sides, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
