"""worker.logging_setup: a pool child ended by SIGTERM during a requested shutdown is INFO, not ERROR."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from worker.logging_setup import POOL_LOGGER, ShutdownExitsAreInfo
from worker.shutdown import clear_shutdown_request, request_shutdown

EXITED = "Process %r pid:%r exited with %r"


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    pool = logging.getLogger(POOL_LOGGER)
    guard = ShutdownExitsAreInfo()
    pool.addFilter(guard)
    try:
        with caplog.at_level(logging.INFO, logger=POOL_LOGGER):
            yield caplog
    finally:
        pool.removeFilter(guard)
        clear_shutdown_request()


def _levels(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records]


def test_sigterm_exit_during_shutdown_is_info(records: pytest.LogCaptureFixture) -> None:
    request_shutdown()
    logging.getLogger(POOL_LOGGER).error(EXITED, "ForkPoolWorker-1", 41, "signal 15 (SIGTERM)")
    assert _levels(records) == [("INFO", "Process 'ForkPoolWorker-1' pid:41 exited with 'signal 15 (SIGTERM)'")]


def test_other_exits_and_sigterm_outside_a_shutdown_stay_errors(records: pytest.LogCaptureFixture) -> None:
    pool = logging.getLogger(POOL_LOGGER)
    pool.error(EXITED, "ForkPoolWorker-2", 42, "signal 15 (SIGTERM)")  # nobody asked the worker to stop
    request_shutdown()
    pool.error(EXITED, "ForkPoolWorker-3", 43, "signal 9 (SIGKILL)")  # killed: worth an error even then
    pool.error(EXITED, "ForkPoolWorker-4", 44, "exitcode 1")
    assert [level for level, _ in _levels(records)] == ["ERROR", "ERROR", "ERROR"]
