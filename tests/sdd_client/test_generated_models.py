"""The client's models are generated from the server's OpenAPI document, and are up to date.

``scripts/generate_client_models.py`` writes ``client/openapi.json`` and ``sdd_client/generated_models.py``;
regenerating them here must give the committed files byte for byte, so a schema change that was not
followed by a regeneration fails. The models are then what the server sends and accepts.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

from sdd_client import generated_models
from sdd_client.job_status import JobStatus
from sdd_client.models import Hyperparameters, Job
from tests.sdd_client.blocked_imports import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "generate_client_models.py"
GENERATED = {
    "openapi.json": REPO_ROOT / "client" / "openapi.json",
    "generated_models.py": REPO_ROOT / "sdd_client" / "generated_models.py",
}


def test_the_committed_document_and_models_are_what_the_server_generates(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    for name, committed in GENERATED.items():
        fresh = (tmp_path / name).read_text()
        diff = "".join(
            difflib.unified_diff(
                committed.read_text().splitlines(keepends=True), fresh.splitlines(keepends=True), str(committed), name
            )
        )
        assert not diff, f"{committed} is stale: run `.venv/bin/python {SCRIPT.relative_to(REPO_ROOT)}`\n{diff[:4000]}"


def test_the_models_are_complete_and_use_the_one_job_status() -> None:
    models = [
        value
        for value in vars(generated_models).values()
        if isinstance(value, type) and value.__module__ == generated_models.__name__ and hasattr(value, "model_fields")
    ]
    assert models and all(model.__pydantic_complete__ for model in models)  # no forward reference left to resolve
    assert Job.model_fields["status"].annotation is JobStatus
    assert not hasattr(generated_models, "JobStatus") or generated_models.JobStatus is JobStatus


def test_help_texts_and_values_are_the_servers() -> None:
    precision = Hyperparameters.model_fields["precision"]
    assert "'auto'" in (precision.description or "") and "auto" in str(precision.annotation)
