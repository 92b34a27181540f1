"""Sending job messages and checking the broker, without a worker (the API's side of the queue)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import redis

from service.broker import RUN_JOB_TASK, celery_app, configure
from service.job_queue import BrokerUnavailableError, check_broker, enqueue_job
from tests.fixtures.servers import free_port
from tests.worker.worker_harness import REPO_ROOT


def _queued_messages(settings) -> list[dict]:
    folder = settings.broker_dir / "queue"
    return [json.loads(path.read_text()) for path in sorted(folder.glob(f"*.{settings.queue_name}.msg"))]


def test_importing_the_queue_does_not_load_torch(tmp_path):
    """The API imports service.job_queue; it must not pay for (or need) the training stack."""
    code = (
        "import sys, service.job_queue\n"
        "loaded = [m for m in ('torch', 'sdd_core.trainer', 'worker.tasks', 'worker.runner') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDD_")} | {"SDD_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_enqueue_on_the_file_broker_writes_one_json_message(embedded):
    check_broker()
    enqueue_job("job_abc")
    [message] = _queued_messages(embedded)
    assert message["headers"]["task"] == RUN_JOB_TASK
    assert message["content-type"] == "application/json"
    assert "job_abc" in message["headers"]["argsrepr"]


def test_reconfiguring_sends_to_the_new_broker(sdd_env, tmp_path):
    first = sdd_env()
    configure(celery_app, first)
    enqueue_job("job_one")
    second = sdd_env(home=tmp_path / "second_home")
    configure(celery_app, second)
    enqueue_job("job_two")
    configure(celery_app, first)  # back to a URL whose pool was used (and reset) before
    enqueue_job("job_three")
    assert [m["headers"]["argsrepr"] for m in _queued_messages(first)] == ["['job_one']", "['job_three']"]
    assert [m["headers"]["argsrepr"] for m in _queued_messages(second)] == ["['job_two']"]


def test_enqueue_on_redis_uses_the_declared_queue(production, redis_url):
    check_broker()
    enqueue_job("job_abc")
    client = redis.Redis.from_url(redis_url)
    [raw] = client.lrange(production.queue_name, 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == RUN_JOB_TASK and message["content-type"] == "application/json"


def test_unreachable_redis_is_reported_quickly(sdd_env):
    configure(celery_app, sdd_env(broker_url=f"redis://:hunter2@127.0.0.1:{free_port()}/0"))
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError) as info:
        check_broker(timeout=1.0)
    assert time.monotonic() - started < 10
    assert "127.0.0.1" in str(info.value) and "hunter2" not in str(info.value)


def test_unusable_file_broker_folder_is_reported(sdd_env, tmp_path):
    home = tmp_path / "not_a_folder"
    home.write_text("SDD_HOME points at a file")  # fails for root too, unlike a read-only folder
    configure(celery_app, sdd_env(home=home))
    with pytest.raises(BrokerUnavailableError, match="broker"):
        check_broker()
