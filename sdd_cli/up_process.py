"""The ``sdd up`` of an ``SDD_HOME``: its pid file and its log file.

While it runs, ``sdd up`` (in the foreground or ``--detach``) keeps its pid in
``$SDD_HOME/sdd-up.pid``: a second ``sdd up`` on the same home is refused, ``sdd down`` knows
what to stop, and ``sdd token create`` tells a database that ``sdd up`` is still migrating from
one nobody migrated. ``sdd up --detach`` writes everything to ``$SDD_HOME/logs/sdd-up.log``
(``sdd logs``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PID_FILE = "sdd-up.pid"
LOG_FILE = Path("logs") / "sdd-up.log"
POLL_S = 0.2


class AlreadyRunning(Exception):
    """Another ``sdd up`` runs on this home."""

    def __init__(self, home: Path, pid: int) -> None:
        super().__init__(
            f"sdd up is already running for SDD_HOME={home} (pid {pid}); `sdd down` stops it, "
            "`sdd logs` shows what it said"
        )
        self.pid = pid


def pid_path(home: Path) -> Path:
    return home / PID_FILE


def log_path(home: Path) -> Path:
    return home / LOG_FILE


def running_pid(home: Path) -> int | None:
    """The pid of this home's running ``sdd up``; None when there is none (or the file is stale)."""
    try:
        pid = int(pid_path(home).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if is_sdd_up(pid) else None


def is_sdd_up(pid: int) -> bool:
    """Whether ``pid`` is a live ``sdd up`` (on Linux, by its command line: a pid reused by
    another program, or a zombie, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():  # no procfs (macOS): alive is all we can tell
        return True
    try:
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        arguments = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state != "Z" and b"up" in arguments and any(b"sdd" in argument for argument in arguments)


@contextmanager
def recorded_as_running(home: Path) -> Iterator[Path]:
    """This process is the home's ``sdd up`` while the block runs (its pid file); ``AlreadyRunning``
    when another one is."""
    other = running_pid(home)
    if other is not None and other != os.getpid():
        raise AlreadyRunning(home, other)
    path = pid_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{PID_FILE}.{os.getpid()}")
    partial.write_text(f"{os.getpid()}\n")
    partial.replace(path)
    try:
        yield path
    finally:
        try:
            if path.read_text().split()[0] == str(os.getpid()):
                path.unlink()
        except (OSError, IndexError):
            pass


def send_stop(pid: int, sig: int = signal.SIGTERM) -> None:
    """``sig`` to ``pid``'s process group when it leads one (``--detach`` starts it so), else to it alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Whether ``pid`` stopped being a live ``sdd up`` within ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while is_sdd_up(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def last_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of a text file (all of a short one; none of a missing one)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - count * 400))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-count:]
