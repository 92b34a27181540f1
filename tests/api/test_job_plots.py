"""GET /v1/jobs/{id}/plots/curves.{png,svg}: live curves while a job runs, the stored plot once it ended."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image
from sqlalchemy import select

from domain.jobs.transitions import claim, finish, record_epoch
from sdd_client.plots import EMPTY_MESSAGE
from service.artifact_stores import get_artifact_store
from service.db.models import Artifact
from tests.api.conftest import Api, assert_error
from tests.sdd_client.plot_samples import metrics_rows, svg_text
from worker.job_plots import store_curve_plots

MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


def _running_job(api: Api, epochs_done: int, *, method: str = "ce") -> str:
    """A job claimed by a pretend worker that has recorded ``epochs_done`` epochs of 3."""
    job_id = api.create_job(method=method, hyperparameters={"epochs": 3})["id"]
    with api.session() as session:
        assert claim(session, job_id, "test-worker", 60)
        for row in metrics_rows(epochs_done, sd=False, planned=3):
            assert record_epoch(session, job_id, row)
    return job_id


def _plot(api: Api, job_id: str, fmt: str, token: str | None = None):
    return api.get(f"/v1/jobs/{job_id}/plots/curves.{fmt}", token)


def _check_image(content: bytes, fmt: str) -> str:
    """Decode the image; for SVG return its text."""
    if fmt == "png":
        image = Image.open(io.BytesIO(content))
        image.load()
        assert image.format == "PNG" and image.size[0] >= 300
        return ""
    ET.fromstring(content)
    return svg_text(content)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_a_running_job_is_drawn_live(api: Api, fmt: str) -> None:
    job_id = _running_job(api, 2)
    response = _plot(api, job_id, fmt)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA[fmt]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-plot-source"] == "live"
    assert f'filename="{job_id}-curves.{fmt}"' in response.headers["content-disposition"]
    text = _check_image(response.content, fmt)
    if fmt == "svg":
        assert f"{job_id} ce" in text and "Validation accuracy" in text


def test_a_queued_job_says_no_epoch_yet(api: Api) -> None:
    job_id = api.create_job()["id"]
    response = _plot(api, job_id, "svg")
    assert response.status_code == 200 and response.headers["x-plot-source"] == "live"
    assert EMPTY_MESSAGE in svg_text(response.content)


def test_a_finished_job_serves_its_stored_plot(api: Api) -> None:
    job_id = _running_job(api, 3)
    store = get_artifact_store(api.settings)
    with api.session() as session:
        stored = {a.kind: a.key for a in store_curve_plots(session, store, job_id)}
        session.commit()
        assert finish(session, job_id, "succeeded", result={"val_top1": 55.0})
    assert set(stored) == {"plot_png", "plot_svg"}
    for fmt in ("png", "svg"):
        response = _plot(api, job_id, fmt)
        assert response.status_code == 200, response.text
        assert response.headers["x-plot-source"] == "stored"
        assert response.headers["cache-control"] == "private, max-age=300"
        assert response.headers["content-type"] == MEDIA[fmt]
        assert response.content == store.path(stored[f"plot_{fmt}"]).read_bytes()
        _check_image(response.content, fmt)


def test_a_finished_job_without_a_stored_plot_is_drawn_live(api: Api) -> None:
    """Jobs that ended before plots were stored, or whose file went missing, still get curves."""
    job_id = _running_job(api, 1)
    with api.session() as session:
        assert finish(session, job_id, "failed", error_code="internal_error", error_message="boom")
    assert _plot(api, job_id, "png").headers["x-plot-source"] == "live"

    store = get_artifact_store(api.settings)
    with api.session() as session:
        keys = [a.key for a in store_curve_plots(session, store, job_id)]
        session.commit()
        assert len(session.scalars(select(Artifact).where(Artifact.job_id == job_id)).all()) == 2
    store.delete(keys[1])  # the SVG's file is gone, its row is not
    response = _plot(api, job_id, "svg")
    assert response.status_code == 200 and response.headers["x-plot-source"] == "live"
    assert _plot(api, job_id, "png").headers["x-plot-source"] == "stored"


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_another_tenants_job_is_404(api: Api, fmt: str) -> None:
    job_id = _running_job(api, 1)
    assert_error(_plot(api, job_id, fmt, token=api.other_token), 404, "not_found")
    assert_error(_plot(api, "job_missing", fmt), 404, "not_found")
    assert _plot(api, job_id, "jpg").status_code == 404


def test_openapi_documents_the_image_types(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for fmt, media in MEDIA.items():
        operation = paths[f"/v1/jobs/{{job_id}}/plots/curves.{fmt}"]["get"]
        assert operation["summary"] and "live" in operation["description"]
        assert list(operation["responses"]["200"]["content"]) == [media]
        assert "404" in operation["responses"]
