"""Uploaded teacher weights (``domain.models.uploaded_models``): the form's fields, the weights file
checked against its architecture with real safetensors files, what is stored (and nothing on a
refusal), and tenant-scoped reads, on the embedded database and the local artifact store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from sqlalchemy import select

from domain.errors import InvalidRequest, NotFound, not_found
from domain.models import uploaded_models
from domain.models.uploaded_models import MAX_CLASSES, check_weights, parse_model_fields, register_model
from domain.ownership import PageParams
from domain.uploads import UploadedFile
from sdd_core.models import create_model
from service.artifact_stores import get_artifact_store
from service.artifacts import model_weights_key
from service.db.models import Tenant, UploadedModel
from service.db.session import session_scope
from service.local_store import LocalArtifactStore
from service.settings import Settings


def weights_file(folder: Path, state: dict[str, torch.Tensor], name: str = "teacher.safetensors") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    save_file({key: value.contiguous() for key, value in state.items()}, str(path))
    return path


def resnet8_state(num_classes: int = 10) -> dict[str, torch.Tensor]:
    return create_model("resnet8", num_classes).state_dict()


def upload_of(path: Path, filename: str | None = None, **fields: str) -> UploadedFile:
    """The upload of ``path`` as the client named it (``filename``, default the file's name)."""
    data = path.read_bytes()
    return UploadedFile(
        path=path,
        filename=path.name if filename is None else filename,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        fields=fields,
    )


def refusal_of(path: Path, arch: str = "resnet8", num_classes: int = 10) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        check_weights(str(path), arch, num_classes)
    return caught.value


@pytest.fixture
def tenant(embedded: Settings, tenant_id: str) -> Tenant:
    with session_scope(embedded) as session:
        row = session.get(Tenant, tenant_id)
        assert row is not None
        session.expunge(row)
        return row


def stored_models(settings: Settings) -> tuple[list[str], list[Path]]:
    """(ids of every model row, every file under the store's models/ folder)."""
    with session_scope(settings) as session:
        ids = list(session.scalars(select(UploadedModel.id)))
    folder = settings.artifact_dir / "models"
    return ids, sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


# ---------------------------------------------------------------- the form's fields


def test_the_fields_are_read_without_the_spaces_around_them() -> None:
    assert parse_model_fields({"arch": " resnet8 ", "num_classes": " 10 ", "name": "  r8 digits "}) == (
        "resnet8",
        10,
        "r8 digits",
    )
    assert parse_model_fields({"arch": "tv/resnet18", "num_classes": str(MAX_CLASSES)}) == (
        "tv/resnet18",
        MAX_CLASSES,
        None,
    )
    assert parse_model_fields({"arch": "resnet8", "num_classes": "1", "name": "   "})[2] is None


@pytest.mark.parametrize("arch", ["", "   "])
def test_an_architecture_is_required(arch: str) -> None:
    for fields in ({"arch": arch, "num_classes": "10"}, {"num_classes": "10"}):
        with pytest.raises(InvalidRequest) as caught:
            parse_model_fields(fields)
        assert (caught.value.location, caught.value.code) == (("arch",), "validation_error")
        assert caught.value.message == "arch: field required"


def test_an_unknown_architecture_is_refused_with_close_names() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_model_fields({"arch": "resnet9", "num_classes": "10"})
    assert caught.value.location == ("arch",)
    assert caught.value.message.startswith("arch: unknown architecture 'resnet9'; did you mean 'resnet8'")


@pytest.mark.parametrize("num_classes", ["", "0", "-1", str(MAX_CLASSES + 1), "1e3", "10.0", "0x10", "١٠"])
def test_a_class_count_is_a_whole_number_from_1_to_the_limit_in_ascii_digits(num_classes: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_model_fields({"arch": "resnet8", "num_classes": num_classes})
    assert caught.value.location == ("num_classes",)
    assert "field required" in caught.value.message or f"from 1 to {MAX_CLASSES}" in caught.value.message


# ---------------------------------------------------------------- the weights against their architecture


def test_weights_of_the_architecture_and_class_count_are_accepted(tmp_path: Path) -> None:
    check_weights(str(weights_file(tmp_path, resnet8_state(10))), "resnet8", 10)
    check_weights(str(weights_file(tmp_path, resnet8_state(100), "r100.safetensors")), "resnet8", 100)


def test_a_file_that_is_not_safetensors_is_refused_on_the_file(tmp_path: Path) -> None:
    pickled = tmp_path / "teacher.pt"
    torch.save(resnet8_state(), pickled)
    for path in (pickled, tmp_path / "missing.safetensors"):
        error = refusal_of(path)
        assert (error.code, error.location) == ("invalid_weights", ("file",))
        assert error.message.startswith("file: not a readable safetensors file")


def test_a_wrong_class_count_is_refused_naming_the_shapes(tmp_path: Path) -> None:
    error = refusal_of(weights_file(tmp_path, resnet8_state(10)), num_classes=100)
    assert (error.code, error.location) == ("weights_mismatch", ("file",))
    assert error.message == (
        "file: the weights do not fit resnet8 with 100 classes; "
        "wrong shapes: fc.bias [10] (expected [100]), fc.weight [10, 64] (expected [100, 64])"
    )


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    state = resnet8_state()
    del state["fc.bias"]
    state["head.scale"] = torch.ones(1)
    state["stem.0.weight"] = torch.zeros(16, 3, 5, 5)
    error = refusal_of(weights_file(tmp_path, state))
    assert (error.code, error.location) == ("weights_mismatch", ("file",))
    assert error.message == (
        "file: the weights do not fit resnet8 with 10 classes; missing keys: fc.bias; "
        "unexpected keys: head.scale; wrong shapes: stem.0.weight [16, 3, 5, 5] (expected [16, 3, 3, 3])"
    )


def test_weights_of_another_architecture_name_a_few_keys_and_count_the_rest(tmp_path: Path) -> None:
    deeper = create_model("resnet14", 10).state_dict()
    extra = sorted(set(deeper) - set(resnet8_state()))
    assert len(extra) > uploaded_models.KEYS_SHOWN
    error = refusal_of(weights_file(tmp_path, deeper))
    assert error.code == "weights_mismatch"
    shown = ", ".join(extra[: uploaded_models.KEYS_SHOWN])
    assert f"unexpected keys: {shown} and {len(extra) - uploaded_models.KEYS_SHOWN} more" in error.message
    assert "missing keys" not in error.message


def test_an_architecture_the_zoo_cannot_build_is_refused_on_the_arch(tmp_path: Path) -> None:
    error = refusal_of(weights_file(tmp_path, resnet8_state()), arch="resnet9")
    assert (error.code, error.location) == ("model_error", ("arch",))
    assert "resnet9" in error.message


# ---------------------------------------------------------------- storing an upload


def test_checked_weights_are_stored_with_their_row(embedded: Settings, tenant: Tenant) -> None:
    path = weights_file(embedded.work_dir / "upload-1", resnet8_state())
    upload = upload_of(path, arch="resnet8", num_classes="10", name="r8-digits")
    data = path.read_bytes()
    with session_scope(embedded) as session:
        row = register_model(session, embedded, tenant, upload)
        assert row.id.startswith("mdl_") and row.tenant_id == tenant.id
        assert (row.name, row.arch, row.num_classes) == ("r8-digits", "resnet8", 10)
        assert (row.size_bytes, row.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert row.storage_key == model_weights_key(row.id)
        model_id = row.id
    store = get_artifact_store(embedded)
    assert isinstance(store, LocalArtifactStore)
    assert store.path(model_weights_key(model_id)).read_bytes() == data
    assert not path.exists(), "the received file is removed once stored"
    with session_scope(embedded) as session:
        assert uploaded_models.get_model(session, tenant.id, model_id).name == "r8-digits"


def test_a_model_without_a_name_is_named_after_its_file(embedded: Settings, tenant: Tenant) -> None:
    long = "t" * 250 + ".safetensors"
    named = {
        "teacher.safetensors": "teacher.safetensors",
        long: long[:200],  # the column's width
        "": None,
    }
    with session_scope(embedded) as session:
        for index, (filename, name) in enumerate(named.items()):
            path = weights_file(embedded.work_dir / f"upload-{index}", resnet8_state())
            upload = upload_of(path, filename, arch="resnet8", num_classes="10")
            assert register_model(session, embedded, tenant, upload).name == name


@pytest.mark.parametrize(
    ("fields", "state_classes", "location"),
    [
        ({"arch": "resnet8", "num_classes": "100"}, 10, ("file",)),
        ({"arch": "resnet20", "num_classes": "10"}, 10, ("file",)),
        ({"arch": "resnet9", "num_classes": "10"}, 10, ("arch",)),
        ({"arch": "resnet8", "num_classes": "ten"}, 10, ("num_classes",)),
    ],
)
def test_a_refused_upload_stores_nothing_and_removes_the_received_file(
    embedded: Settings, tenant: Tenant, fields: dict[str, str], state_classes: int, location: tuple[str, ...]
) -> None:
    path = weights_file(embedded.work_dir / "upload-1", resnet8_state(state_classes))
    with session_scope(embedded) as session, pytest.raises(InvalidRequest) as caught:
        register_model(session, embedded, tenant, upload_of(path, **fields))
    assert caught.value.location == location
    assert stored_models(embedded) == ([], [])
    assert not path.exists()


def test_a_file_that_is_not_safetensors_stores_nothing(embedded: Settings, tenant: Tenant) -> None:
    path = embedded.work_dir / "upload-1" / "teacher.safetensors"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00" * 64)
    with session_scope(embedded) as session, pytest.raises(InvalidRequest) as caught:
        register_model(session, embedded, tenant, upload_of(path, arch="resnet8", num_classes="10"))
    assert caught.value.code == "invalid_weights"
    assert stored_models(embedded) == ([], [])
    assert not path.exists()


# ---------------------------------------------------------------- reads, scoped to the tenant


def test_reads_see_only_the_tenants_own_models(embedded: Settings, tenant: Tenant) -> None:
    with session_scope(embedded) as session:
        other = Tenant(name="bob")
        session.add(other)
        session.flush()
        session.expunge(other)
    ids = []
    for owner, index in [(tenant, 1), (other, 2), (tenant, 3), (tenant, 4)]:
        path = weights_file(embedded.work_dir / f"upload-{index}", resnet8_state())
        with session_scope(embedded) as session:
            ids.append(register_model(session, embedded, owner, upload_of(path, arch="resnet8", num_classes="10")).id)
    mine = [ids[3], ids[2], ids[0]]  # newest first
    theirs = ids[1]

    with session_scope(embedded) as session:
        first, more = uploaded_models.list_models(session, tenant.id, PageParams(limit=2))
        assert ([row.id for row in first], more) == (mine[:2], True)
        rest, more = uploaded_models.list_models(session, tenant.id, PageParams(limit=2, after=first[-1].id))
        assert ([row.id for row in rest], more) == (mine[2:], False)
        for model_id in (theirs, "mdl_missing"):
            with pytest.raises(NotFound) as caught:
                uploaded_models.get_model(session, tenant.id, model_id)
            expected = not_found("model", model_id)
            assert (caught.value.message, caught.value.code, caught.value.location) == (
                expected.message,
                expected.code,
                expected.location,
            )
        assert uploaded_models.get_model(session, other.id, theirs).id == theirs
