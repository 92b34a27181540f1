"""Training checkpoints: written atomically, read back with ``weights_only=True``.

A checkpoint holds everything needed to continue exactly where training stopped: student weights,
optimiser and scheduler states, the last epoch finished (``epoch``) and its metrics, the best
accuracy so far, and the spec it was trained with (a resume under another spec is refused).
A checkpoint written by a stop inside an epoch also holds ``partial``: that epoch, the batches
already trained, the epoch's running sums and every RNG's state at the stop.

Format 2 added ``partial``; format 1 checkpoints (end of epoch only) are still read.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sdd_core.errors import SDDError

CHECKPOINT_FORMAT = 2
READABLE_FORMATS = (1, 2)


class CheckpointError(SDDError):
    code = "checkpoint_error"


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the format version) atomically to ``path``."""
    payload = {"format": CHECKPOINT_FORMAT, **state}
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path, *, mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint without executing any pickled code (``mmap``: tensors stay on disk)."""
    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") not in READABLE_FORMATS:
        raise CheckpointError(f"{path} is not a checkpoint this trainer reads (formats {READABLE_FORMATS})")
    return state


@dataclass(frozen=True)
class CheckpointPosition:
    """Where a checkpoint stands: ``epoch`` epochs finished, then ``batch`` batches of ``partial_epoch``."""

    epoch: int
    partial_epoch: int | None = None
    batch: int = 0


def checkpoint_position(path: Path) -> CheckpointPosition:
    """Read where ``path`` stands without loading its tensors into memory (memory-mapped)."""
    state = load_checkpoint(path, mmap=True)
    partial = state.get("partial")
    if partial is None:
        return CheckpointPosition(epoch=int(state["epoch"]))
    return CheckpointPosition(
        epoch=int(state["epoch"]), partial_epoch=int(partial["epoch"]), batch=int(partial["batch"])
    )
