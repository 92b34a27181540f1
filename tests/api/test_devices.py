"""Jobs on several devices over REST: ``devices`` and ``sync_batchnorm``, their rules and limit."""

from __future__ import annotations

from service.broker import all_queues, queue_for
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings


def test_a_job_may_ask_for_devices_that_split_its_batch(api: Api) -> None:
    job = api.create_job(devices=2, sync_batchnorm=True, hyperparameters={"batch_size": 64})
    assert job["spec"]["devices"] == 2 and job["spec"]["sync_batchnorm"] is True
    assert api.create_job()["spec"]["devices"] == 1
    error = assert_error(
        api.post_job(devices=3, hyperparameters={"batch_size": 64}),
        422,
        "validation_error",
        "hyperparameters.batch_size",
    )
    assert "does not split over devices=3" in error["message"] and "multiple of 3" in error["message"]
    assert_error(api.post_job(devices=9), 422, "validation_error", "devices")
    assert_error(api.post_job(sync_batchnorm=True), 422, "validation_error", "sync_batchnorm")


def test_the_services_device_limit(sdd_env, sqlite_template) -> None:
    for api in make_api(sqlite_settings(sdd_env, sqlite_template, max_devices=2)):
        error = assert_error(api.post_job(devices=4), 422, "limit_exceeded", "devices")
        assert "limit of 2 devices" in error["message"]


def test_each_device_count_has_its_queue() -> None:
    assert queue_for("training") == "training" and queue_for("training", 4) == "training-devices-4"
    assert all_queues("training")[:2] == ["training", "training-devices-2"] and len(all_queues("training")) == 8
