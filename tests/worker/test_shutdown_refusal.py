"""A delivery that reaches a process already shutting down is given back to the broker unclaimed."""

import pytest
from celery.exceptions import Reject

from worker.shutdown import clear_shutdown_request, refuse_while_shutting_down, request_shutdown


def test_a_delivery_during_a_shutdown_is_requeued_and_one_before_it_goes_on() -> None:
    refuse_while_shutting_down("job job_x")  # no shutdown asked: nothing happens
    request_shutdown()
    try:
        with pytest.raises(Reject) as refused:
            refuse_while_shutting_down("job job_x")
        assert refused.value.requeue is True
    finally:
        clear_shutdown_request()
