"""The example scripts: each documents how to run it against ``sdd up`` and starts; two run for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from tests.api.conftest import Api
from tests.sdd_client.conftest import play_worker, trained_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIENT_EXAMPLES = (
    "submit_and_wait.py",
    "compare_kd_vs_sdkd.py",
    "upload_dataset_and_distill.py",
    "download_student.py",
)


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script", CLIENT_EXAMPLES)
def test_example_documents_sdd_up_and_starts(script: str) -> None:
    text = (EXAMPLES / script).read_text()
    assert "sdd up" in text and "sdd login" in text and "from sdd_client import" in text
    done = _run(script, "--help")
    assert done.returncode == 0, done.stderr
    assert "--url" in done.stdout


def test_submit_and_wait_then_download(api: Api, live_url: str, tmp_path: Path) -> None:
    auth = ("--url", live_url, "--token", api.token)
    worker = play_worker(api, None, 2, "succeeded")
    waited = _run("submit_and_wait.py", "--epochs", "2", *auth)
    worker.join(timeout=10)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "epoch 2/2: loss 0.500  val top-1 50.00%" in waited.stdout
    assert "succeeded: val top-1 50.00%" in waited.stdout

    job = trained_job(api, (10.0,), student=save({"fc.weight": np.zeros((2, 3), dtype=np.float32)}))
    fetched = _run("download_student.py", job["id"], "--out", str(tmp_path / "students"), *auth)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert "(SHA-256 verified): 1 tensors, 6 parameters" in fetched.stdout
    assert (tmp_path / "students" / f"{job['id']}-resnet8.card.json").is_file()
