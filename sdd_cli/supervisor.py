"""Run long-lived child processes under one supervisor: ``sdd up`` (API + worker) and ``sdd worker --gpus``.

:class:`Supervisor` starts each :class:`ChildSpec` (a name, a command line, its environment), then

* restarts a child that exits while the supervisor is not stopping (a crash, the OOM killer, a
  bug), saying so, after a delay that doubles while it keeps dying within a minute of its start
  (up to 30 s); the other children go on serving, untouched;
* on SIGTERM or SIGINT, sends SIGTERM to every child and waits for them (a worker does its warm
  shutdown: its running job checkpoints at the next batch and goes back to the queue, see
  ``worker.shutdown``); after ``stop_timeout_s``, or at a second signal, it kills the rest.

Children run in sessions of their own, so a terminal's Ctrl-C or a process manager's signal to
the group reaches them once, through the supervisor; on Linux each child also gets SIGTERM if the
supervisor dies (``PR_SET_PDEATHSIG``), so none is left behind running alone.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

POLL_S = 0.2
RESTART_DELAY_S = 1.0
MAX_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long before dying is restarted at once again
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process: ``name`` in messages (``api``, ``GPU 3``), its command and environment."""

    name: str
    command: list[str]
    env: Mapping[str, str] | None = None  # None: the supervisor's own


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay_s: float = RESTART_DELAY_S
    restart_at: float | None = None
    restarts: int = 0


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def describe_exit(code: int) -> str:
    """``exit code 3`` or ``signal 9 (SIGKILL)`` for a ``Popen.returncode``."""
    if code >= 0:
        return f"code {code}"
    try:
        return f"code {code} (killed by {signal.Signals(-code).name})"
    except ValueError:
        return f"code {code}"


class Supervisor:
    """Runs ``children`` until a signal, restarting the ones that die (see the module docstring)."""

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        label: str,
        stop_timeout_s: float | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.children = [_Child(spec) for spec in children]
        self.label = label
        self.stop_timeout_s = stop_timeout_s
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self._signals: list[int] = []

    def say(self, message: str) -> None:
        self.echo(f"{self.label}: {message}")

    def _start(self, child: _Child) -> None:
        child.process = subprocess.Popen(
            child.spec.command,
            env=None if child.spec.env is None else dict(child.spec.env),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        child.started, child.restart_at = time.monotonic(), None
        self.say(f"{child.spec.name} started (pid {child.process.pid})")

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
            others = [other.spec.name for other in self.children if other is not child]
            self.say(
                f"{child.spec.name} (pid {child.process.pid}) exited with {describe_exit(code)} after {ran:.0f} s; "
                f"restarting it in {delay:.0f} s" + (f" ({', '.join(others)} still running)" if others else "")
            )
            child.process, child.restart_at = None, now + delay

    def _stop_children(self) -> int:
        name = signal.Signals(self._signals[0]).name
        running = [child for child in self.children if child.process is not None and child.process.poll() is None]
        self.say(f"got {name}; stopping {', '.join(child.spec.name for child in running) or 'nothing'}")
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = None if self.stop_timeout_s is None else time.monotonic() + self.stop_timeout_s
        killed = False
        while any(child.process.poll() is None for child in running if child.process is not None):
            late = deadline is not None and time.monotonic() > deadline
            if (len(self._signals) > 1 or late) and not killed:
                why = "a second signal" if len(self._signals) > 1 else f"not stopped after {self.stop_timeout_s:.0f} s"
                self.say(f"{why}; killing what is left")
                for child in running:
                    if child.process is not None and child.process.poll() is None:
                        child.process.kill()
                killed = True
            time.sleep(POLL_S)
        codes = {child.spec.name: child.process.returncode for child in running if child.process is not None}
        # A clean stop exits 0, or by the SIGTERM it was sent (uvicorn re-raises it once it has shut down).
        failed = {child: code for child, code in codes.items() if code not in (0, -signal.SIGTERM)}
        if failed:
            self.say(f"did not stop cleanly: {', '.join(f'{n} ({describe_exit(c)})' for n, c in failed.items())}")
        return 1 if failed else 0
