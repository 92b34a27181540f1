"""A student's first weights through a real ``sdd worker``: pretrained timm weights from the
worker's Hugging Face cache, a warm start from another job's student, and a missing file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.artifact_stores import get_artifact_store
from service.artifacts import job_card_key
from service.broker import celery_app, configure
from service.job_queue import enqueue_job
from tests.fixtures.weights_caches import write_timm_weights
from tests.worker.conftest import Stack, _start_stack
from tests.worker.worker_harness import TINY_SPEC, wait_for_status

pytestmark = pytest.mark.slow

TERMINAL = {"succeeded", "failed", "cancelled"}
PRETRAINED = TINY_SPEC | {"student": "timm/test_resnet", "init": "pretrained", "image_size": 32}


@pytest.fixture(scope="module")
def hf_stack(tmp_path_factory) -> Iterator[tuple[Stack, Path]]:
    """An embedded stack whose worker reads its own Hugging Face cache, holding timm/test_resnet."""
    root = tmp_path_factory.mktemp("weights")
    write_timm_weights(root / "hf", "timm/test_resnet")
    stack = _start_stack(root / "sdd_home", {"HF_HUB_CACHE": str(root / "hf")}, pool="solo")
    configure(celery_app, stack.settings)
    yield stack, root / "hf"
    stack.worker.stop()


def _card(stack: Stack, job_id: str) -> dict:
    return json.loads(get_artifact_store(stack.settings).path(job_card_key(job_id)).read_text())


def _run(stack: Stack, spec: dict) -> object:
    job_id = stack.make_job(spec)
    enqueue_job(job_id)
    return wait_for_status(stack.settings, job_id, TERMINAL, worker=stack.worker)


def test_pretrained_then_warm_start_then_a_missing_file(hf_stack: tuple[Stack, Path]) -> None:
    stack, hf_cache = hf_stack
    pretrained = _run(stack, PRETRAINED)
    assert pretrained.status == "succeeded", (pretrained.error_code, pretrained.error_message)
    init = _card(stack, pretrained.id)["training"]["init"]
    assert init["from"] == "pretrained" and init["head"] == "fresh"

    warm = _run(stack, PRETRAINED | {"init": {"job": pretrained.id}})
    assert warm.status == "succeeded", (warm.error_code, warm.error_message)
    init = _card(stack, warm.id)["training"]["init"]
    assert init["from"] == "warm start" and init["head"] == "loaded"
    assert init["weights_sha256"] == _card(stack, pretrained.id)["weights_sha256"]

    shutil.rmtree(hf_cache)  # the file went away between submission and training
    missing = _run(stack, PRETRAINED)
    assert missing.status == "failed" and missing.error_code == "weights_unavailable"
    assert "models--timm--test_resnet.r160_in1k" in missing.error_message
    assert "hf download" in missing.error_message
