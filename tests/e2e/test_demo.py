"""``examples/distill_digits.py``, the demo: it tells its own story on stdout, the service's logs go to a file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.service_processes import REPO_ROOT, WORKER_READY, service_environment

pytestmark = pytest.mark.slow

DEMO = REPO_ROOT / "examples" / "distill_digits.py"
DEMO_TIMEOUT_S = 1200.0  # three trainings of one epoch each, on a busy CPU-only machine
SERVICE_LOG_LINE = re.compile(r"celery|uvicorn|INFO|WARNING|Traceback")
RICH_TERMINAL_OVERRIDES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")  # would make rich draw bars


def test_demo_prints_its_story_and_logs_the_service_to_a_file(tmp_path: Path) -> None:
    home = tmp_path / "sdd_home"
    env = service_environment(home)
    for name in RICH_TERMINAL_OVERRIDES:
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(DEMO), "--epochs", "1", "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout

    logs = re.findall(r"^service logs: (.+)$", out, re.MULTILINE)
    assert len(logs) == 1, out
    log = Path(logs[0])
    assert log.parent == home / "logs" and log.is_file(), log
    service_log = log.read_text()
    teacher = re.search(r"^submitted (job_\w+): ce resnet32 on digits$", out, re.MULTILINE)
    assert teacher is not None, out
    assert WORKER_READY.search(service_log) and f"job {teacher[1]}: claimed by" in service_log, service_log[-4000:]

    assert not SERVICE_LOG_LINE.search(out + done.stderr), out + done.stderr
    assert re.search(r"^  teacher resnet32 \(CE\)\s+epoch 1/1  val top-1 +[\d.]+%  loss [\d.]+$", out, re.MULTILINE)
    for model in ("teacher resnet32 (CE)", "student resnet8 (KD)", "student resnet8 (SD-KD)"):
        assert re.search(rf"^\s*{re.escape(model)}\s+[\d.]+\s+[\d.]+\s*$", out, re.MULTILINE), out
    assert "the service was stopped; --keep-running leaves it up to browse the results in its dashboard" in out
