"""One worker per GPU: ``worker.gpu_claims`` and ``sdd worker`` refusing GPUs another worker holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worker.gpu_claims import GpuInUse, claim_gpus

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_claimed_gpu_is_refused_naming_its_holder_until_released(tmp_path: Path) -> None:
    first = claim_gpus(["0", "1"], tmp_path, "sdd worker gpu0@node")
    with pytest.raises(GpuInUse, match=r"GPU 1 is already used by sdd worker gpu0@node \(pid \d+\)"):
        claim_gpus(["2", "1"], tmp_path, "sdd worker --devices 2")
    third = claim_gpus(["2"], tmp_path, "another")  # all or nothing: GPU 2 was let go with the refusal
    first.release()
    claim_gpus(["0", "1"], tmp_path, "sdd worker --devices 2").release()
    third.release()


def test_a_claim_dies_with_its_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from pathlib import Path; from worker.gpu_claims import claim_gpus; "
         f"c = claim_gpus(['3'], Path({str(tmp_path)!r}), 'doomed'); print('held', flush=True); "
         f"import time; time.sleep(60)"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(GpuInUse, match="doomed"):
            claim_gpus(["3"], tmp_path, "me")
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        claim_gpus(["3"], tmp_path, "me").release()  # the kernel dropped the dead process's lock
    finally:
        holder.kill()
        holder.wait()


def test_sdd_worker_on_devices_another_worker_holds_refuses_to_start(tmp_path: Path) -> None:
    held = claim_gpus(["1"], tmp_path / "locks", "sdd worker gpu1@node")
    env = {name: value for name, value in os.environ.items() if not name.startswith("SDD_")}
    env |= {"SDD_HOME": str(tmp_path / "home"), "SDD_GPU_LOCK_DIR": str(tmp_path / "locks"),
            "CUDA_VISIBLE_DEVICES": "0,1"}  # fmt: skip
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sdd_cli", "worker", "--devices", "2", "--pool", "solo"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        held.release()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "GPU 1 is already used by sdd worker gpu1@node" in done.stderr and "one worker per GPU" in done.stderr
    assert "celery@" not in done.stdout + done.stderr  # refused before Celery started
    assert time.monotonic() - started < 60
