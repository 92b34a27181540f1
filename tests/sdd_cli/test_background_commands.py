"""``sdd up --detach``, ``sdd logs``, ``sdd down`` and the pid file, with stand-ins for ``sdd up``
where a real one is not needed (a real one, detached: tests/test_readme_tour.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sdd_cli.main import cli
from sdd_cli.up_process import AlreadyRunning, log_path, pid_path, recorded_as_running, running_pid
from service.settings import Settings
from tests.fixtures.servers import free_port

# A process whose command line looks like `sdd up` (`python -c … sdd up`), stopping on SIGTERM.
STAND_IN = [sys.executable, "-c", "import time; time.sleep(60)", "sdd", "up"]


def sdd(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def home(sdd_env) -> Settings:
    settings = sdd_env()
    settings.ensure_dirs()
    return settings


@pytest.fixture
def stand_in(home: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in `sdd up` in a session of its own (as --detach starts it), named by the pid file."""
    process = subprocess.Popen(STAND_IN, start_new_session=True)
    pid_path(home.home).write_text(f"{process.pid}\n")
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_the_pid_file_names_one_live_sdd_up(home: Settings, stand_in: subprocess.Popen[bytes]) -> None:
    assert running_pid(home.home) == stand_in.pid
    with pytest.raises(AlreadyRunning, match=f"pid {stand_in.pid}"), recorded_as_running(home.home):
        pass
    refused = sdd("up", "--detach", "--port", str(free_port()))
    assert refused.exit_code == 1 and f"sdd up is already running for SDD_HOME={home.home}" in refused.output
    stand_in.kill()
    stand_in.wait()
    assert running_pid(home.home) is None  # stale: its process is gone
    with recorded_as_running(home.home) as path:
        assert path.read_text() == f"{os.getpid()}\n"
    assert not path.exists()
    pid_path(home.home).write_text(f"{os.getpid()}\n")  # a live process, but not an sdd up
    assert running_pid(home.home) is None


def test_down_stops_it_and_says_so(home: Settings, stand_in: subprocess.Popen[bytes]) -> None:
    stopped = sdd("down")
    assert stopped.exit_code == 0, stopped.output
    assert stopped.stderr.startswith(f"stopped sdd up (pid {stand_in.pid}) in ")
    assert stand_in.wait(timeout=10) == -15  # SIGTERM, to its process group
    again = sdd("down")
    assert again.exit_code == 0 and again.stderr.strip() == f"no sdd up is running for SDD_HOME={home.home}"
    assert not pid_path(home.home).exists()


def test_logs_prints_the_detached_log(home: Settings) -> None:
    missing = sdd("logs")
    assert missing.exit_code == 1 and f"no log at {log_path(home.home)}" in missing.output
    log_path(home.home).parent.mkdir(parents=True, exist_ok=True)
    log_path(home.home).write_text("one\ntwo\nthree\n")
    assert sdd("logs").stdout == "one\ntwo\nthree\n"
    assert sdd("logs", "-n", "2").stdout == "two\nthree\n"
    followed = sdd("logs", "-f")  # nothing runs: prints what there is, says so, returns
    assert followed.exit_code == 0 and followed.stdout == "one\ntwo\nthree\n" and "nothing more" in followed.stderr


def test_up_refuses_a_port_in_use(home: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = sdd("up", "--detach", "--port", str(port))
    assert refused.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}: Address already in use; another program listens there" in refused.output


def test_detach_reports_an_sdd_up_that_exits_before_it_is_ready(sdd_env, tmp_path: Path) -> None:
    # a database nobody listens for: the migration fails, and `sdd up` with it
    settings = sdd_env(database_url=f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/none")
    failed = sdd("up", "--detach", "--port", str(free_port()), "--timeout", "60")
    assert failed.exit_code == 1
    assert "sdd up exited with code 1 before it was ready." in failed.output
    assert f"Its log is {log_path(settings.home)}; the last lines:" in failed.output
    assert "OperationalError" in failed.output  # the log's tail says why
    assert running_pid(settings.home) is None
