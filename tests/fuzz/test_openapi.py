"""Schemathesis against the service's own ``/openapi.json``: every operation, valid and invalid input.

The app is the embedded default (SQLite, file broker) called in-process over ASGI, authenticated
with a real token, with objects of every kind seeded (``tests/fuzz/harness.py``). Each operation
gets up to ``SDD_FUZZ_EXAMPLES`` (default 12) schema-valid and as many schema-violating requests,
and every answer must pass the checks in ``harness.CHECKS``: no 5xx; status, media type, headers
and body as documented; a schema-violating request refused with a 4xx.

``benchmarks/fuzz.py`` runs the same harness with a bigger budget against a real uvicorn server.
(The harness loops over operations itself: schemathesis' pytest parametrisation does not run under
pytest 9, as it reads a private attribute of the test item.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis import GenerationMode

from api.app import create_app
from benchmarks.local_service import prepare_service
from service.db.session import dispose_engines
from service.settings import get_settings
from tests.fuzz.harness import Seeds, configure_schema, fuzz_schema, seed_objects

MAX_EXAMPLES = int(os.environ.get("SDD_FUZZ_EXAMPLES", "12"))
# Fuzzing sends hundreds of requests in seconds: the abuse limits would answer most with 429.
FUZZ_SETTINGS = {"rate_limit_per_minute": 0, "max_jobs_in_flight": 0, "max_upload_bytes": 1 << 20}


@dataclass
class Target:
    app: FastAPI
    token: str
    seeds: Seeds


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The app on a fresh embedded home (no ``SDD_*`` variable from outside), seeded."""
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.startswith("SDD_")]:
            env.delenv(name)
        get_settings.cache_clear()
        dispose_engines()
        service = prepare_service(tmp_path_factory.mktemp("fuzz") / "sdd_home", **FUZZ_SETTINGS)
        app = create_app(service.settings)
        token = service.tokens["alice"]
        with TestClient(app) as client:
            seeds = seed_objects(client, service.settings, token)
        yield Target(app, token, seeds)
        dispose_engines()
        get_settings.cache_clear()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_operation(target: Target, mode: GenerationMode) -> None:
    schema = configure_schema(schemathesis.openapi.from_asgi("/openapi.json", target.app))
    stats = fuzz_schema(schema, [mode], target.token, target.seeds, MAX_EXAMPLES)
    operations = {label for label, _ in stats.statuses}
    assert len(operations) >= 15, sorted(operations)
    assert not stats.failures, "\n\n".join(f"{label}:\n{text}" for label, text in stats.failures.items())
    if mode == GenerationMode.POSITIVE:  # the seeds were reached: real objects came back
        assert stats.statuses[("GET /v1/jobs/{job_id}", 200)] > 0, stats.statuses
        assert stats.statuses[("POST /v1/jobs", 201)] > 0, stats.statuses
