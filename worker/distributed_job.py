"""A job on N devices: this worker process is rank 0, and starts ranks 1..N-1 as child processes.

    worker process (rank 0)                    ``python -m worker.rank_process`` (ranks 1..N-1)
      claims the job, heartbeats its lease       the same spec, checkpoint and data on this node
      train(..., rank 0) with the job's          train(..., rank r), no callbacks: rank 0 alone
      callbacks: metrics, checkpoints, cancel    records, and decides when every rank stops

The ranks join one ``torch.distributed`` group (NCCL on CUDA, rank r on the node's GPU r; gloo
on the CPU) on a free local port. Rank processes are plain subprocesses, not multiprocessing
children, so a Celery prefork pool process (a daemon) can start them.

If a rank dies, rank 0's next collective fails (gloo and NCCL see the closed connection; at the
latest after ``RANK_TIMEOUT_SECONDS``): the attempt ends with ``RankLost``, and the runner
re-queues the job to resume from its newest checkpoint, counting the attempt. Whatever ends
rank 0's training, the other ranks are stopped before this returns.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainCallbacks, TrainOptions, TrainResult, train
from sdd_core.trainer.distributed import close_ranks, free_port, init_ranks
from sdd_core.trainer.runtime import resolve_device

log = logging.getLogger(__name__)

RANK_EXIT_WAIT_S = 30.0  # after rank 0 is done: how long the others get to exit before they are killed
RANK_LOST_GRACE_S = 5.0  # after rank 0's training failed: how long a dying rank gets to be seen exited


class RankLost(RuntimeError):
    """A rank other than 0 exited while the job trained; the attempt cannot go on."""

    code = "rank_lost"


def rank_command(rank: int, world_size: int, port: int, spec_file: Path, out_dir: Path, options: TrainOptions,
                 resume_from: Path | None) -> list[str]:  # fmt: skip
    """The command line of rank ``rank`` (``worker.rank_process``)."""
    command = [
        sys.executable, "-m", "worker.rank_process",
        "--rank", str(rank), "--world-size", str(world_size), "--port", str(port),
        "--spec", str(spec_file), "--out", str(out_dir), "--data-root", str(options.data_root),
    ]  # fmt: skip
    if resume_from is not None:
        command += ["--resume", str(resume_from)]
    if options.num_workers is not None:
        command += ["--loader-workers", str(options.num_workers)]
    if options.device_data_max_bytes is not None:  # every rank must take rank 0's data path
        command += ["--device-data-max-bytes", str(options.device_data_max_bytes)]
    if options.allow_download:
        command.append("--allow-download")
    if options.allow_weight_downloads:
        command.append("--allow-weight-downloads")
    return command


def train_on_ranks(
    spec: JobSpec,
    out_dir: Path,
    *,
    options: TrainOptions,
    callbacks: TrainCallbacks,
    resume_from: Path | None,
    job_id: str,
) -> TrainResult:
    """Train ``spec`` on ``spec.devices`` ranks of this node; this process is rank 0 (see the module docstring)."""
    world_size = spec.devices
    device_type = resolve_device(spec.resolved_hyperparameters.device).type
    port = free_port()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec_file = out_dir / "ranks-spec.json"
    spec_file.write_text(spec.model_dump_json())
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    children: dict[int, subprocess.Popen[bytes]] = {}
    for rank in range(1, world_size):
        log_path = out_dir / f"rank{rank}.log"
        with open(log_path, "wb") as log_file:
            children[rank] = subprocess.Popen(
                rank_command(rank, world_size, port, spec_file, out_dir / f"rank{rank}", options, resume_from),
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
    log.info(
        "job %s: training on %d ranks (%s), ranks 1..%d are pids %s",
        job_id,
        world_size,
        "nccl" if device_type == "cuda" else "gloo",
        world_size - 1,
        ", ".join(str(child.pid) for child in children.values()),
    )
    try:
        init_ranks(0, world_size, port, device_type)
        options = dataclasses.replace(options, world_size=world_size, rank=0)
        return train(spec, out_dir, options=options, callbacks=callbacks, resume_from=resume_from)
    except Exception as exc:
        lost = _exited_ranks(children, RANK_LOST_GRACE_S)
        if lost:
            rank, code = next(iter(lost.items()))
            assert code is not None
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            tail = _log_tail(out_dir / f"rank{rank}.log")
            raise RankLost(
                f"rank {rank} of {world_size} stopped ({how}) while the job trained"
                + (f": {tail}" if tail else "")
                + "; the job resumes from its newest checkpoint"
            ) from exc
        raise
    finally:
        close_ranks()
        _stop_children(children, job_id)


def _exited_ranks(children: dict[int, subprocess.Popen[bytes]], grace_s: float) -> dict[int, int]:
    """The ranks that exited with an error, waiting up to ``grace_s`` for one: a killed rank's
    sockets close (failing rank 0's collective) a moment before the kernel reports its exit."""
    deadline = time.monotonic() + grace_s
    while True:
        lost = {rank: code for rank, child in children.items() if (code := child.poll()) not in (None, 0)}
        if lost or time.monotonic() >= deadline:
            return lost
        time.sleep(0.05)


def _stop_children(children: dict[int, subprocess.Popen[bytes]], job_id: str) -> None:
    """Let the other ranks finish (they end with rank 0), else kill them."""
    for rank, child in children.items():
        try:
            child.wait(timeout=RANK_EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            log.warning("job %s: rank %d (pid %d) did not exit; killing it", job_id, rank, child.pid)
            child.kill()
            child.wait()


def _log_tail(path: Path, lines: int = 3) -> str:
    """The last lines a rank printed (its error), on one line."""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return " | ".join(text.splitlines()[-lines:])[-600:]
