"""Uploaded teacher weights: checked against their architecture, then stored.

A model is accepted only if its safetensors file loads strictly into
``sdd_core.models.create_model(arch, num_classes)``: same keys, same shapes. The model is built on
the ``meta`` device (no memory, no random init) and the weights are assigned into it, so even a
large architecture is checked in about the time it takes to read the file. torch and the zoo load
with the first model checked, not with the API.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.orm import Session

from domain.errors import InvalidRequest
from domain.ownership import PageParams, get_owned, page_of
from domain.text_rules import parse_ascii_int
from domain.uploads import UploadedFile, commit_stored
from sdd_core import models as zoo
from sdd_core.errors import ModelError, unknown_name
from service.artifact_stores import get_artifact_store
from service.artifacts import model_weights_key
from service.db.models import Tenant, UploadedModel, new_id
from service.settings import Settings

logger = logging.getLogger(__name__)

KEYS_SHOWN = 8
MAX_CLASSES = 100_000  # a classifier head larger than any dataset this service trains


def parse_model_fields(fields: dict[str, str]) -> tuple[str, int, str | None]:
    """(arch, num_classes, name) from the form; ``InvalidRequest`` naming the field otherwise."""
    arch = fields.get("arch", "").strip()
    if not arch:
        raise InvalidRequest("arch: field required", location=("arch",))
    known = zoo.list_models()
    if arch not in known:
        message = unknown_name("architecture", arch, known)
        raise InvalidRequest(f"arch: {message}", location=("arch",))
    num_classes = parse_ascii_int(fields.get("num_classes", ""), ("num_classes",), low=1, high=MAX_CLASSES)
    name = fields.get("name", "").strip() or None
    return arch, num_classes, name


def check_weights(path: str, arch: str, num_classes: int) -> None:
    """Raise ``InvalidRequest`` on ``file`` unless the file's state dict fits ``arch`` exactly."""
    import torch  # imported here: only checking an upload needs it (the API starts without torch)
    from safetensors.torch import load_file

    try:
        state = load_file(path)
    except Exception as exc:  # safetensors raises its own error type for a bad header
        raise InvalidRequest(
            f"file: not a readable safetensors file ({exc})", code="invalid_weights", location=("file",)
        ) from exc
    try:
        with torch.device("meta"):
            model = zoo.create_model(arch, num_classes)
    except ModelError as exc:
        raise InvalidRequest(f"arch: {exc.message}", code=exc.code, location=("arch",)) from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shapes = [
        f"{key} {list(state[key].shape)} (expected {list(expected[key].shape)})"
        for key in sorted(set(state) & set(expected))
        if state[key].shape != expected[key].shape
    ]
    not_finite = [
        key
        for key in sorted(set(state) & set(expected))
        if state[key].is_floating_point() and not bool(torch.isfinite(state[key]).all())
    ]
    problems = [
        f"{label}: {_some(items)}"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", wrong_shapes),
            ("NaN or infinite values in", not_finite),  # a teacher that could only teach NaN
        )
        if items
    ]
    if problems:
        raise InvalidRequest(
            f"file: the weights do not fit {arch} with {num_classes} classes; " + "; ".join(problems),
            code="weights_mismatch",
            location=("file",),
        )
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise InvalidRequest(
            f"file: the weights do not load into {arch}: {exc}", code="weights_mismatch", location=("file",)
        ) from exc


def register_model(session: Session, settings: Settings, tenant: Tenant, upload: UploadedFile) -> UploadedModel:
    """Check the uploaded weights against the form's arch and store them; the committed row."""
    try:
        arch, num_classes, name = parse_model_fields(upload.fields)
        check_weights(str(upload.path), arch, num_classes)
        model_id = new_id("mdl")
        key = model_weights_key(model_id)
        store = get_artifact_store(settings)
        store.put_file(key, upload.path)
        row = UploadedModel(
            id=model_id,
            tenant_id=tenant.id,
            name=(name or upload.filename or None) and (name or upload.filename)[:200],
            arch=arch,
            num_classes=num_classes,
            storage_key=key,
            size_bytes=upload.size_bytes,
            sha256=upload.sha256,
        )
        commit_stored(session, row, lambda: store.delete(key))
    finally:
        upload.remove()
    logger.info("model %s: stored for tenant %s (%s, %d classes)", row.id, tenant.name, arch, num_classes)
    return row


def _some(items: list[str]) -> str:
    shown = ", ".join(items[:KEYS_SHOWN])
    return shown + (f" and {len(items) - KEYS_SHOWN} more" if len(items) > KEYS_SHOWN else "")


def get_model(session: Session, tenant_id: str, model_id: str) -> UploadedModel:
    """The tenant's uploaded model ``model_id``; ``NotFound`` otherwise."""
    return get_owned(session, UploadedModel, tenant_id, model_id, kind="model")


def list_models(session: Session, tenant_id: str, page: PageParams) -> tuple[Sequence[UploadedModel], bool]:
    """A page of the tenant's uploaded models, newest first: (models, whether more follow)."""
    return page_of(session, UploadedModel, tenant_id, page)
