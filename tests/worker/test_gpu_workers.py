"""``sdd worker --gpus``: one worker process per GPU, pinned with CUDA_VISIBLE_DEVICES.

On CPU, by naming devices explicitly: the command line and environment each device's ``sdd worker``
child gets (the supervisor's restarts and signals: tests/sdd_cli/test_supervisor.py; a real
``--gpus 0`` worker training a job: tests/worker/test_loader_workers.py).
"""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from sdd_cli import process_commands
from sdd_cli.main import cli
from sdd_cli.supervisor import Supervisor
from service.settings import Settings
from worker.gpu_workers import GpuSelectionError, node_name, parse_gpus, pinned_environment


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
    pinned = pinned_environment("3", {"CUDA_VISIBLE_DEVICES": "0,1,2,3", "HOME": "/h"})
    assert pinned == {"CUDA_VISIBLE_DEVICES": "3", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "HOME": "/h"}


def test_each_device_gets_a_pinned_worker_with_its_own_node_name(monkeypatch) -> None:
    started: dict[str, list[str]] = {}
    exporters: dict[str, str] = {}

    def fake_run(self: Supervisor) -> int:
        for child in self.children:
            device = child.spec.name.removeprefix("GPU ")
            started[device] = child.spec.command
            assert child.spec.env is not None and child.spec.env["CUDA_VISIBLE_DEVICES"] == device
            exporters[device] = child.spec.env["SDD_WORKER_METRICS_PORT"]
        return 0

    monkeypatch.setattr(Supervisor, "run", fake_run)
    monkeypatch.setattr(process_commands, "load_settings", lambda: Settings(worker_metrics_port=9464))
    result = CliRunner().invoke(
        cli, ["worker", "--gpus", "0,2", "--pool", "solo", "--queues", "training", "--log-level", "warning"]
    )
    assert result.exit_code == 0, result.output
    assert set(started) == {"0", "2"}
    assert exporters == {"0": "9464", "2": "9465"}  # one metrics port per GPU worker
    for device, command in started.items():
        assert command[:3] == [sys.executable, "-m", "sdd_cli"]
        args = command[3:]
        assert args[0] == "worker" and "--gpus" not in args
        assert args[args.index("--concurrency") + 1] == "1"  # one job per GPU
        assert args[args.index("--hostname") + 1] == f"gpu{device}@%h"
        assert args[args.index("--pool") + 1] == "solo" and args[args.index("--queues") + 1] == "training"
        assert args[args.index("--log-level") + 1] == "warning"  # as sdd api names it

    refused = CliRunner().invoke(cli, ["worker", "--gpus", "1,1"])
    assert refused.exit_code == 2 and "named twice" in refused.output
