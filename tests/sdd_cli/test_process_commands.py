"""The module ``sdd up``'s children run as (its supervisor: tests/sdd_cli/test_supervisor.py)."""

from __future__ import annotations

import subprocess
import sys

from sdd_cli import process_commands


def test_up_children_run_the_sdd_command_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", process_commands.CHILD_MODULE, "worker", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Run a Celery worker" in done.stdout
