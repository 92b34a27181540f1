"""One worker process per GPU of a node, each pinned with ``CUDA_VISIBLE_DEVICES``, under one supervisor.

``sdd worker --gpus all|0,1,3`` runs :class:`GpuWorkerSupervisor`: it starts one ``sdd worker``
child per device with ``CUDA_VISIBLE_DEVICES=<device>`` (so each child trains on its ``cuda:0``
and never sees the others) and a Celery node name of its own (``gpu<device>@<host>``), then

* restarts a child that exits while the node is not stopping (a crash, the OOM killer), after a
  delay that doubles while it keeps dying within a minute of its start (up to 30 s);
* forwards SIGTERM (or SIGINT) to every child and waits for all of them: each does the warm
  shutdown of a single worker (its running job checkpoints at the next batch and goes back to the
  queue, see ``worker.shutdown``); a second signal kills the children at once.

Children run in their own sessions, so a terminal's Ctrl-C or a process manager's signal to the
group reaches them once, through the supervisor; on Linux each child also gets SIGTERM if the
supervisor dies (``PR_SET_PDEATHSIG``), so none is left behind running alone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType

POLL_S = 0.2
RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long before dying is restarted at once again
PR_SET_PDEATHSIG = 1


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


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    device: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay_s: float = RESTART_DELAY_S
    restart_at: float | None = None
    restarts: int = 0


class GpuWorkerSupervisor:
    """Runs ``command(device)`` once per device (see the module docstring) until a signal."""

    def __init__(
        self,
        devices: list[str],
        command: Callable[[str], list[str]],
        *,
        environ: Mapping[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.children = [Child(device) for device in devices]
        self.command = command
        self.environ = dict(os.environ if environ is None else environ)
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self._signals: list[int] = []

    def child_environment(self, device: str) -> dict[str, str]:
        env = {**self.environ, "CUDA_VISIBLE_DEVICES": device}
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # indices as nvidia-smi numbers them
        return env

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            self.command(child.device),
            env=self.child_environment(child.device),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        child.started, child.restart_at = time.monotonic(), None
        self.echo(f"sdd worker: GPU {child.device}: worker started (pid {child.process.pid})")

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT, then stop every child; 0 if they all stopped cleanly."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            self._signals.append(signum)

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self.children:
                self._start(child)
            while not self._signals:
                self._check_children()
                time.sleep(POLL_S)
            return self._stop_children()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _check_children(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.process is None:  # waiting for its restart
                if child.restart_at is not None and now >= child.restart_at:
                    child.restarts += 1
                    self._start(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            ran = now - child.started
            if ran >= STABLE_AFTER_S:
                child.delay_s = RESTART_DELAY_S
            delay, child.delay_s = child.delay_s, min(child.delay_s * 2, MAX_RESTART_DELAY_S)
            self.echo(
                f"sdd worker: GPU {child.device}: worker (pid {child.process.pid}) exited with code {code} "
                f"after {ran:.0f} s; restarting it in {delay:.0f} s"
            )
            child.process, child.restart_at = None, now + delay

    def _stop_children(self) -> int:
        name = signal.Signals(self._signals[0]).name
        running = [child for child in self.children if child.process is not None and child.process.poll() is None]
        self.echo(f"sdd worker: got {name}; stopping {len(running)} GPU worker(s), each checkpoints its job")
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        killed = False
        while any(child.process.poll() is None for child in running if child.process is not None):
            if len(self._signals) > 1 and not killed:
                self.echo("sdd worker: second signal; killing the GPU workers")
                for child in running:
                    if child.process is not None and child.process.poll() is None:
                        child.process.kill()
                killed = True
            time.sleep(POLL_S)
        codes = {child.device: child.process.returncode for child in running if child.process is not None}
        failed = {device: code for device, code in codes.items() if code != 0}
        if failed:
            self.echo(f"sdd worker: GPU workers that did not stop cleanly: {failed}")
        return 1 if failed else 0
