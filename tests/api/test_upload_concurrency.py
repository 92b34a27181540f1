"""Uploads checked in the API (teacher weights) run in a bounded pool: they wait their turn instead
of taking the request threads. (Dataset archives are only stored by the API; workers ingest them.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from domain.errors import InvalidRequest
from domain.models import uploaded_models
from tests.api.conftest import Api


def test_uploads_in_flight_are_bounded_and_job_polls_still_answer(api: Api, monkeypatch) -> None:
    job = api.create_job()
    release = threading.Event()
    running: list[int] = []
    most = [0]
    lock = threading.Lock()

    def slow_check(*args, **kwargs):  # stands in for large weights: holds its slot until released
        with lock:
            running.append(1)
            most[0] = max(most[0], len(running))
        try:
            release.wait(timeout=30)
        finally:
            with lock:
                running.pop()
        raise InvalidRequest("file: held", code="invalid_weights", location=("file",))

    monkeypatch.setattr(uploaded_models, "register_model", slow_check)

    def upload() -> object:
        fields = {"arch": "resnet8", "num_classes": "2"}
        return api.post("/v1/models", files={"file": ("t.safetensors", b"weights")}, data=fields)

    with ThreadPoolExecutor(max_workers=5) as pool:
        uploads = [pool.submit(upload) for _ in range(5)]
        for _ in range(200):  # until the pool is full (the limit is the setting's default, 2)
            if len(running) == api.settings.ingest_concurrency:
                break
            threading.Event().wait(0.02)
        polls = [api.get(f"/v1/jobs/{job['id']}") for _ in range(10)]  # answered while uploads wait
        assert [p.status_code for p in polls] == [200] * 10
        release.set()
        answers = [future.result(timeout=60) for future in uploads]
    assert [a.status_code for a in answers] == [422] * 5
    assert most[0] == api.settings.ingest_concurrency == 2
