"""One worker per GPU: a worker claims the GPUs it trains on, and one that finds a GPU taken refuses to start.

``sdd worker --gpus`` runs one worker per GPU, ``sdd worker --devices N`` one worker whose jobs
train on the first N GPUs it sees; started on the same node over the same GPUs, they would train
two jobs on one GPU, each slower and both short of memory. So each worker takes an exclusive
``flock`` on a file per GPU it will use (``SDD_GPU_LOCK_DIR``, node-wide: ``/tmp/sdd-gpus`` by
default, one folder for every worker of the node whatever its SDD_HOME) before it starts Celery,
and keeps it until it exits. The kernel drops the lock of a process that dies, even by SIGKILL, so
a claim never outlives its worker. A GPU is named as ``CUDA_VISIBLE_DEVICES`` names it (an index
under ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, or a UUID): workers that name one GPU both ways are not
recognised as sharing it. A worker that trains on the CPU claims nothing.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


class GpuInUse(RuntimeError):
    """A GPU this worker would train on is claimed by another live worker of this node."""


@dataclass
class GpuClaim:
    """The lock files held; ``release()`` (or this process's exit) lets them go."""

    devices: list[str]
    _files: list[IO[str]] = field(default_factory=list, repr=False)

    def release(self) -> None:
        for handle in self._files:
            handle.close()
        self._files.clear()


def _lock_name(device: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in device)
    return f"gpu-{safe}.lock"


def claim_gpus(devices: Iterable[str], lock_dir: Path, holder: str) -> GpuClaim:
    """Claim every device or none; ``GpuInUse`` naming the device and the worker holding it."""
    lock_dir.mkdir(parents=True, exist_ok=True, mode=0o1777)
    claim = GpuClaim(list(devices))
    try:
        for device in claim.devices:
            handle = open(lock_dir / _lock_name(device), "a+")  # noqa: SIM115 - held until the worker exits
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                other = handle.read().strip() or "another process"
                handle.close()
                raise GpuInUse(
                    f"GPU {device} is already used by {other} on this node; one worker per GPU: stop it, "
                    f"give this worker other GPUs (CUDA_VISIBLE_DEVICES, --gpus), or run several jobs on "
                    f"one GPU from one worker (--concurrency N)"
                ) from None
            handle.truncate(0)
            handle.write(f"{holder} (pid {os.getpid()})\n")
            handle.flush()
            claim._files.append(handle)
    except BaseException:
        claim.release()
        raise
    return claim
