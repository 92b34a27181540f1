"""The README's tour, pasted as a reader pastes it: the ``bash`` blocks marked ``<!-- tour -->`` run in
order in one shell (``set -e``: every command must exit 0), in a fresh ``SDD_HOME`` and working
folder, with ``.venv/bin`` on ``PATH``; only the port changes (a free one for 8000). ``sdd down``
ends the tour, and runs again whatever happened."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sdd_cli.up_process import running_pid
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
TOUR_BLOCK = re.compile(r"^<!-- tour -->\n```bash\n(.*?)^```", re.S | re.M)
TOUR_TIMEOUT_S = 540.0
OUTPUT_TAIL = 6000
# On a failure, the command that failed (bash's ERR trap), then the service's log tail.
PRELUDE = "set -euo pipefail\ntrap 'echo \"tour: this command failed with exit $?: $BASH_COMMAND\" >&2' ERR\n"


def tour_blocks(readme: str) -> list[str]:
    return TOUR_BLOCK.findall(readme)


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    blocks = tour_blocks((REPO_ROOT / "README.md").read_text())
    assert len(blocks) >= 3, "README.md marks no tour blocks (<!-- tour --> before ```bash)"
    assert "sdd up --detach --port 8000" in blocks[0] and blocks[-1].rstrip().splitlines()[-1].startswith("sdd down")
    port = free_port()
    script = PRELUDE + "\n".join(block.replace("8000", str(port)) for block in blocks)

    venv_bin = Path(sys.executable).parent  # .venv/bin: the sdd command of this checkout
    assert (venv_bin / "sdd").exists(), venv_bin
    home, workdir = tmp_path / "sdd_home", tmp_path / "tour"
    workdir.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith("SDD_")}
    env |= {
        "SDD_HOME": str(home),
        "SDD_CONFIG": str(tmp_path / "config" / "sdd.json"),  # `sdd login` writes here, not to ~/.config
        "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        "COLUMNS": "120",
        # one intra-op thread: API, worker and the test share a small machine (see tests/e2e/service_processes.py)
        "OMP_NUM_THREADS": "1",
    }
    began = time.monotonic()
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=TOUR_TIMEOUT_S
        )
    finally:
        down = subprocess.run(["sdd", "down"], env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - began
    log = home / "logs" / "sdd-up.log"
    service_log = log.read_text()[-OUTPUT_TAIL:] if log.exists() else "(no log)"
    assert done.returncode == 0, (
        f"the tour failed after {took:.0f} s\n--- its output ---\n{(done.stdout + done.stderr)[-OUTPUT_TAIL:]}\n"
        f"--- the service's log ---\n{service_log}"
    )
    assert "stopped sdd up" in done.stderr and down.returncode == 0, down.stderr
    assert running_pid(home) is None
    written = {path.name for path in workdir.iterdir()}
    expected = {"compare.png", "student.safetensors", "digits-images.zip", "teacher.safetensors", "sweep.png"}
    assert expected <= written and any(name.endswith(".onnx") for name in written), written
    print(f"the README's tour ran in {took:.0f} s")
