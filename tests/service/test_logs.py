"""service.logs: JSON and text lines carry the ids of the request, job and tenant they are about."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context

import pytest

from service.logs import ContextFilter, add_to_context, bound, formatter_for


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing through the service's filter (root's handlers untouched)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.service.logs")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


def test_json_lines_carry_the_bound_ids_and_nothing_outside(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = lines
    logger.handlers[0].setFormatter(formatter_for("json"))
    logger.info("before")
    with bound(job_id="job_1", tenant_id="tnt_1"):
        logger.info("training epoch %d", 3)
        with bound(rank=1):
            logger.warning("rank line")
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            logger.exception("failed")
    logger.info("after")
    before, epoch, rank, failed, after = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "job_id" not in before and "job_id" not in after
    assert epoch["message"] == "training epoch 3" and epoch["level"] == "INFO"
    assert (epoch["job_id"], epoch["tenant_id"]) == ("job_1", "tnt_1")
    assert rank["rank"] == "1" and rank["job_id"] == "job_1" and rank["level"] == "WARNING"
    assert failed["exception"].startswith("Traceback") and "ValueError: bad" in failed["exception"]
    assert epoch["time"].endswith("+00:00") and epoch["logger"] == "tests.service.logs"


def test_text_lines_put_the_ids_on_the_first_line(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = lines
    logger.handlers[0].setFormatter(formatter_for("text"))
    with bound(request_id="abc123"):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("unhandled")
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("unhandled [request_id=abc123]") and " ERROR tests.service.logs: " in first
    assert rest[0].startswith("Traceback") and rest[-1] == "RuntimeError: boom"


def test_ids_added_in_a_worker_thread_reach_the_request_context() -> None:
    """FastAPI runs a sync dependency (authentication) in a thread with a copy of the context."""
    with bound(request_id="r1") as fields:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(copy_context().run, add_to_context, tenant_id="tnt_9").result()
        assert fields == {"request_id": "r1", "tenant_id": "tnt_9"}
    add_to_context(tenant_id="nowhere")  # outside any context: nothing to add to, no error
