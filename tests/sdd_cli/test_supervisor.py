"""``sdd_cli.supervisor``, the supervisor of ``sdd up`` and ``sdd worker --gpus``, with stand-in children:
Python scripts that report the device they see and how they were stopped.

A real ``sdd up`` whose API is killed: tests/e2e/test_sdd_up.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.worker.worker_harness import REPO_ROOT

CHILD = """
import json, os, signal, sys, time
report, on_term = sys.argv[1], sys.argv[2]
def write(event):
    with open(report, "a") as out:
        out.write(json.dumps({"pid": os.getpid(), "event": event, "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\\n")
def stop(*_):
    write("sigterm")
    if on_term == "exit":
        sys.exit(0)
signal.signal(signal.SIGTERM, stop)
write("started")
while True:
    time.sleep(0.05)
"""

SUPERVISOR = """
import sys
from sdd_cli.supervisor import ChildSpec, Supervisor
from worker.gpu_workers import pinned_environment
child, report, on_term, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
children = [
    ChildSpec(f"GPU {device}", [sys.executable, child, f"{report}.{device}", on_term], pinned_environment(device))
    for device in ("3", "5")
]
sys.exit(Supervisor(children, label="test", stop_timeout_s=timeout).run())
"""


def _events(report: Path, device: str) -> list[dict]:
    path = Path(f"{report}.{device}")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log.read_text()}")
        time.sleep(0.05)


def _supervisor(tmp_path: Path, on_term: str, stop_timeout_s: float) -> tuple[subprocess.Popen[bytes], Path, Path]:
    child, report, log = tmp_path / "child.py", tmp_path / "report", tmp_path / "supervisor.log"
    child.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, str(child), str(report), on_term, str(stop_timeout_s)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait(lambda: all(_events(report, d) for d in ("3", "5")), 30, "both children", log)
    return process, report, log


def test_children_are_pinned_restarted_alone_and_all_stopped_by_sigterm(tmp_path) -> None:
    supervisor, report, log = _supervisor(tmp_path, on_term="exit", stop_timeout_s=30)
    try:
        for device in ("3", "5"):  # each child sees its own device only
            assert [e["gpu"] for e in _events(report, device)] == [device]

        crashed = _events(report, "3")[0]["pid"]
        os.kill(crashed, signal.SIGKILL)  # a crash: the supervisor starts a new one, says so
        _wait(lambda: len(_events(report, "3")) == 2, 30, "GPU 3's child to be restarted", log)
        restarted = _events(report, "3")[1]
        assert restarted["pid"] != crashed and restarted["gpu"] == "3" and restarted["event"] == "started"
        assert len(_events(report, "5")) == 1  # the other one was left alone
        said = log.read_text()
        assert f"GPU 3 (pid {crashed}) exited with code -9 (killed by SIGKILL)" in said, said
        assert "restarting it in 1 s (GPU 5 still running)" in said, said

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0, log.read_text()
        for device in ("3", "5"):  # every child got the SIGTERM (a worker would checkpoint its job)
            assert _events(report, device)[-1]["event"] == "sigterm"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_children_that_ignore_sigterm_are_killed_after_the_stop_timeout(tmp_path) -> None:
    supervisor, report, log = _supervisor(tmp_path, on_term="ignore", stop_timeout_s=1)
    try:
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=30) == 1, log.read_text()  # they did not stop cleanly
        said = log.read_text()
        assert "not stopped after 1 s; killing what is left" in said, said
        assert "did not stop cleanly: GPU 3 (code -9 (killed by SIGKILL))" in said, said
        for device in ("3", "5"):
            pid = _events(report, device)[-1]["pid"]
            assert _events(report, device)[-1]["event"] == "sigterm"
            try:
                os.kill(pid, 0)
                raise AssertionError(f"child {pid} still runs")
            except ProcessLookupError:
                pass
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
