"""The fuzz suite with a bigger budget, against a real uvicorn server on loopback.

    python -m benchmarks.fuzz [--examples 200] [--mode valid --mode invalid] [--backend embedded --backend postgres] [--no-cli]

Same harness and checks as ``tests/fuzz/test_openapi.py`` (``tests/fuzz/harness.py``): every
operation of the service's own ``/openapi.json``, schema-valid and schema-violating requests,
seeded objects, a real token. For each backend (the embedded default: SQLite and the file broker;
and a private PostgreSQL server it starts) it prepares the service in a temp folder, serves it with
uvicorn on 127.0.0.1 and prints requests per operation and status and every failure.

Then (unless ``--no-cli``) the ``schemathesis run`` command line goes over the same server with
its own phases: the schema's examples, boundary values ("coverage"), fuzzing, and stateful
sequences along the links it infers (create a job, then read, cancel, download it), with every
check but ``positive_data_acceptance`` (the service refuses many schema-valid bodies on purpose:
an unknown student name is a string, yet not an architecture). Exits 1 if either found a failure.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from schemathesis import GenerationMode

from api.app import create_app
from benchmarks.local_service import prepare_service, serve
from service.db.session import dispose_engines
from tests.fixtures.servers import start_postgres, stop_postgres
from tests.fuzz.harness import Stats, configure_schema, fuzz_schema, seed_objects

FUZZ_SETTINGS = {"rate_limit_per_minute": 0, "max_jobs_in_flight": 0, "max_upload_bytes": 1 << 20}
MODES = {"valid": GenerationMode.POSITIVE, "invalid": GenerationMode.NEGATIVE}
BACKENDS = ("embedded", "postgres")


def report(stats: Stats, seconds: float) -> None:
    by_operation: dict[str, dict[int, int]] = defaultdict(dict)
    for (label, status), count in sorted(stats.statuses.items()):
        by_operation[label][status] = count
    width = max(len(label) for label in by_operation)
    for label, statuses in by_operation.items():
        shown = "  ".join(f"{status}:{count}" for status, count in sorted(statuses.items()))
        print(f"  {label:<{width}}  {shown}")
    server_errors = sum(count for (_, status), count in stats.statuses.items() if status >= 500)
    print(
        f"operations: {len(by_operation)}  requests: {stats.requests}  5xx: {server_errors}  "
        f"failed operations: {len(stats.failures)}  time: {seconds:.0f} s"
    )
    for label, text in stats.failures.items():
        print(f"\nFAILED {label}:\n{text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=200, help="requests per operation and mode")
    parser.add_argument("--mode", action="append", choices=sorted(MODES), help="default: both")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="default: both")
    parser.add_argument("--no-cli", action="store_true", help="skip the schemathesis command-line run")
    args = parser.parse_args()
    modes = [MODES[name] for name in (args.mode or ["valid", "invalid"])]
    logging.getLogger("python_multipart").setLevel(logging.ERROR)  # one warning per malformed upload
    failed = False
    for backend in args.backend or BACKENDS:
        with backend_settings(backend) as settings:
            print(f"\n===== {backend} =====", flush=True)
            failed |= fuzz_backend(settings, modes, args.examples, cli=not args.no_cli)
    return 1 if failed else 0


@contextmanager
def backend_settings(backend: str) -> Iterator[dict[str, Any]]:
    """The service's settings on ``backend``: the embedded default (SQLite, file broker), or a
    private PostgreSQL server started for the run (``tests.fixtures.servers``)."""
    if backend == "embedded":
        yield dict(FUZZ_SETTINGS)
        return
    server = start_postgres()
    try:
        yield {**FUZZ_SETTINGS, "database_url": server.url(server.create_database("fuzz"))}
    finally:
        dispose_engines()
        stop_postgres(server)


def fuzz_backend(settings: dict[str, Any], modes: list[GenerationMode], examples: int, *, cli: bool) -> bool:
    """Both fuzzers against the service on ``settings``; True if either found a failure."""
    with tempfile.TemporaryDirectory(prefix="sdd-fuzz-") as tmp:
        service = prepare_service(Path(tmp) / "sdd_home", **settings)
        token = service.tokens["alice"]
        with serve(create_app(service.settings)) as url:
            with httpx.Client(base_url=url, timeout=60) as client:
                seeds = seed_objects(client, service.settings, token)
            schema = configure_schema(schemathesis.openapi.from_url(f"{url}/openapi.json"))
            print(f"fuzzing {url} ({', '.join(mode.value for mode in modes)}; {examples} examples each)")
            started = time.monotonic()
            stats = fuzz_schema(schema, modes, token, seeds, examples)
            report(stats, time.monotonic() - started)
            cli_failed = run_cli(url, token, examples, Path(tmp)) if cli else False
    return bool(stats.failures) or cli_failed


def run_cli(url: str, token: str, examples: int, workdir: Path) -> bool:
    """``schemathesis run`` against ``url`` (see the module docstring), its cache kept in
    ``workdir``; True if it failed."""
    command = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if command is None:
        print("schemathesis command not found; skipped its run")
        return False
    print(f"\nschemathesis run ({examples} examples per operation and phase)", flush=True)
    completed = subprocess.run(
        [
            command,
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(examples),
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--no-color",
        ],
        check=False,
        cwd=workdir,
    )
    return completed.returncode != 0


if __name__ == "__main__":
    sys.exit(main())
