"""``sdd worker --gpus``: one worker process per GPU, pinned with CUDA_VISIBLE_DEVICES, supervised.

On CPU, by naming devices explicitly: the command line each device's ``sdd worker`` child gets,
and the supervisor running a small stand-in child (a Python script that reports the device it
sees and how it was stopped) for the restart and signal checks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sdd_cli import process_commands
from sdd_cli.main import cli
from tests.worker.worker_harness import REPO_ROOT
from worker.gpu_workers import GpuSelectionError, GpuWorkerSupervisor, node_name, parse_gpus

CHILD = """
import json, os, signal, sys, time
report = sys.argv[1]
def write(event):
    with open(report, "a") as out:
        out.write(json.dumps({"pid": os.getpid(), "event": event, "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\\n")
def on_term(*_):
    write("sigterm")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
write("started")
while True:
    time.sleep(0.05)
"""

SUPERVISOR = """
import sys
from worker.gpu_workers import GpuWorkerSupervisor
child, report = sys.argv[1], sys.argv[2]
supervisor = GpuWorkerSupervisor(["3", "5"], lambda device: [sys.executable, child, f"{report}.{device}"])
sys.exit(supervisor.run())
"""


def test_gpu_lists() -> None:
    assert parse_gpus("0,1,3") == ["0", "1", "3"]
    assert parse_gpus(" 2 , 5 ") == ["2", "5"]
    assert parse_gpus("all", environ={"CUDA_VISIBLE_DEVICES": "4,6"}) == ["4", "6"]
    assert parse_gpus("all", environ={}, count=lambda: 3) == ["0", "1", "2"]
    with pytest.raises(GpuSelectionError, match="no visible GPU"):
        parse_gpus("all", environ={}, count=lambda: 0)
    with pytest.raises(GpuSelectionError, match="named twice"):
        parse_gpus("0,1,0")
    with pytest.raises(GpuSelectionError, match="name devices"):
        parse_gpus(" , ")
    assert node_name("1") == "gpu1@%h" and node_name("GPU-8f2a/x") == "gpuGPU-8f2a-x@%h"


def test_each_device_gets_a_pinned_worker_with_its_own_node_name(monkeypatch) -> None:
    started: dict[str, list[str]] = {}

    def fake_run(self: GpuWorkerSupervisor) -> int:
        for child in self.children:
            started[child.device] = self.command(child.device)
            assert self.child_environment(child.device)["CUDA_VISIBLE_DEVICES"] == child.device
        return 0

    monkeypatch.setattr(GpuWorkerSupervisor, "run", fake_run)
    monkeypatch.setattr(process_commands, "load_settings", lambda: None)
    result = CliRunner().invoke(cli, ["worker", "--gpus", "0,2", "--pool", "solo", "--queues", "training"])
    assert result.exit_code == 0, result.output
    assert set(started) == {"0", "2"}
    for device, command in started.items():
        assert command[:3] == [sys.executable, "-m", "sdd_cli"]
        args = command[3:]
        assert args[0] == "worker" and "--gpus" not in args
        assert args[args.index("--concurrency") + 1] == "1"  # one job per GPU
        assert args[args.index("--hostname") + 1] == f"gpu{device}@%h"
        assert args[args.index("--pool") + 1] == "solo" and args[args.index("--queues") + 1] == "training"

    refused = CliRunner().invoke(cli, ["worker", "--gpus", "1,1"])
    assert refused.exit_code == 2 and "named twice" in refused.output


def _events(report: Path, device: str) -> list[dict]:
    path = Path(f"{report}.{device}")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log.read_text()}")
        time.sleep(0.05)


def test_children_are_pinned_restarted_and_all_stopped_by_sigterm(tmp_path) -> None:
    child, report, log = tmp_path / "child.py", tmp_path / "report", tmp_path / "supervisor.log"
    child.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    with log.open("wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, str(child), str(report)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(lambda: all(_events(report, d) for d in ("3", "5")), 30, "both children", log)
        for device in ("3", "5"):  # each child sees its own device only
            assert [e["gpu"] for e in _events(report, device)] == [device]

        crashed = _events(report, "3")[0]["pid"]
        os.kill(crashed, signal.SIGKILL)  # a crash: the supervisor starts a new worker for GPU 3
        _wait(lambda: len(_events(report, "3")) == 2, 30, "GPU 3's worker to be restarted", log)
        restarted = _events(report, "3")[1]
        assert restarted["pid"] != crashed and restarted["gpu"] == "3" and restarted["event"] == "started"
        assert len(_events(report, "5")) == 1  # the other one was left alone

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0, log.read_text()
        for device in ("3", "5"):  # every child got the SIGTERM (and would checkpoint its job)
            assert _events(report, device)[-1]["event"] == "sigterm"
        assert "exited with code -9" in log.read_text() and "restarting it in 1 s" in log.read_text()
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
