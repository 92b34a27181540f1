"""``sdd up``'s supervisor, and the module its children run as."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from sdd_cli import process_commands
from sdd_cli.process_commands import supervise


def _sleeper(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


def test_up_supervisor_stops_the_other_child_when_one_dies() -> None:
    children = {"api": _sleeper(60), "worker": subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])}
    started = time.monotonic()
    assert supervise(children) == 3
    assert children["api"].poll() is not None
    assert time.monotonic() - started < 20


def test_up_supervisor_exits_zero_on_sigterm() -> None:
    children = {"api": _sleeper(60), "worker": _sleeper(60)}
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    assert supervise(children) == 0
    assert all(child.poll() is not None for child in children.values())


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
