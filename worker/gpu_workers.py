"""Which GPUs ``sdd worker --gpus all|0,1,3`` serves, and the pinned environment of each one's worker.

``sdd worker --gpus`` runs one ``sdd worker`` child per device under ``sdd_cli.supervisor``: each
with ``CUDA_VISIBLE_DEVICES=<device>`` (so it trains on its ``cuda:0`` and never sees the others)
and a Celery node name of its own (``gpu<device>@<host>``); the supervisor restarts a child that
dies and forwards SIGTERM to all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping


class GpuSelectionError(ValueError):
    """``--gpus`` names no device, a device twice, or ``all`` on a node without GPUs."""


def visible_gpus(environ: Mapping[str, str] | None = None, count: Callable[[], int] | None = None) -> list[str]:
    """The devices this process may use: ``CUDA_VISIBLE_DEVICES``'s entries if set, else 0..N-1."""
    environ = os.environ if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [entry.strip() for entry in listed.split(",") if entry.strip()]
    return [str(index) for index in range((count or _cuda_device_count)())]


def _cuda_device_count() -> int:
    import torch  # imported here: only `--gpus all` needs it, and torch is slow to import

    return int(torch.cuda.device_count())


def parse_gpus(
    value: str, environ: Mapping[str, str] | None = None, count: Callable[[], int] | None = None
) -> list[str]:
    """``"all"`` -> every visible device; ``"0,1,3"`` -> those (indices or GPU UUIDs), in that order."""
    if value.strip().lower() == "all":
        devices = visible_gpus(environ, count)
        if not devices:
            raise GpuSelectionError("--gpus all: this node has no visible GPU; name devices explicitly (--gpus 0,1)")
        return devices
    devices = [entry.strip() for entry in value.split(",") if entry.strip()]
    if not devices:
        raise GpuSelectionError(f"--gpus {value!r}: name devices as all or a list such as 0,1,3")
    repeated = sorted({device for device in devices if devices.count(device) > 1})
    if repeated:
        raise GpuSelectionError(f"--gpus {value!r}: device {repeated[0]} is named twice; one worker per GPU")
    return devices


def node_name(device: str) -> str:
    """The Celery node name of a device's worker: ``gpu<device>@%h`` (``%h``: the host name)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in device)
    return f"gpu{safe}@%h"


def pinned_environment(device: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with only ``device`` visible, numbered as nvidia-smi does."""
    env = {**(os.environ if environ is None else environ), "CUDA_VISIBLE_DEVICES": device}
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    return env
