"""Uploads are checked in a bounded pool: they wait their turn instead of taking the request threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from domain.datasets import uploaded_datasets
from domain.errors import InvalidRequest
from tests.api.conftest import Api
from tests.api.test_datasets import image_folder, upload, zip_bytes


def test_uploads_in_flight_are_bounded_and_job_polls_still_answer(api: Api, monkeypatch) -> None:
    job = api.create_job()
    release = threading.Event()
    running: list[int] = []
    most = [0]
    lock = threading.Lock()

    def slow_ingest(*args, **kwargs):  # stands in for a slow archive: holds its slot until released
        with lock:
            running.append(1)
            most[0] = max(most[0], len(running))
        try:
            release.wait(timeout=30)
        finally:
            with lock:
                running.pop()
        raise InvalidRequest("file: held", code="invalid_archive", location=("file",))

    monkeypatch.setattr(uploaded_datasets, "ingest_dataset", slow_ingest)
    body = zip_bytes(image_folder())
    with ThreadPoolExecutor(max_workers=5) as pool:
        uploads = [pool.submit(upload, api, body) for _ in range(5)]
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
