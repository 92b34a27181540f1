"""The local artifact store: atomic writes, hashes, key validation, size limits, whole folders, reads in place.

The S3 store is tested against a real S3 server in ``test_s3_store.py``."""

from __future__ import annotations

import hashlib
import io

import pytest

from service.artifact_stores import get_artifact_store
from service.artifacts import (
    InvalidKey,
    TooLarge,
    dataset_key,
    job_card_key,
    job_checkpoint_key,
    job_metrics_key,
    job_prefix,
    job_student_key,
    model_weights_key,
    sha256_file,
    validate_key,
)
from service.local_store import LocalArtifactStore


@pytest.fixture
def store(tmp_path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _leftovers(store: LocalArtifactStore) -> list[str]:
    return sorted(p.name for p in store.root.rglob(".tmp-*"))


def test_put_file_stores_a_copy_with_size_and_sha256(store, tmp_path) -> None:
    src = tmp_path / "student.safetensors"
    src.write_bytes(b"weights" * 1000)
    stored = store.put_file(job_student_key("job_abc"), src)

    assert stored.key == "jobs/job_abc/student.safetensors"
    assert stored.size_bytes == 7000
    assert stored.sha256 == hashlib.sha256(src.read_bytes()).hexdigest() == sha256_file(src)
    assert store.path(stored.key).read_bytes() == src.read_bytes()
    assert store.exists(stored.key)
    with store.open(stored.key) as handle:
        assert handle.read(7) == b"weights"
    assert src.exists()  # copied, not moved
    assert _leftovers(store) == []


def test_overwrite_replaces_the_whole_file(store) -> None:
    key = job_card_key("job_abc")
    store.put_bytes(key, b"x" * 10_000)
    stored = store.put_bytes(key, b"short")
    assert store.path(key).read_bytes() == b"short"
    assert stored.size_bytes == 5
    assert _leftovers(store) == []


def test_failed_write_keeps_the_old_object_and_no_temp_file(store) -> None:
    key = job_metrics_key("job_abc")
    store.put_bytes(key, b"old")

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError("connection reset")
            return b"partial new data"

    with pytest.raises(OSError, match="connection reset"):
        store.put_stream(key, Broken())
    assert store.path(key).read_bytes() == b"old"
    assert _leftovers(store) == []


def test_put_stream_over_the_limit_leaves_nothing(store) -> None:
    key = model_weights_key("mdl_123")
    with pytest.raises(TooLarge) as excinfo:
        store.put_stream(key, io.BytesIO(b"a" * (3 << 20)), max_bytes=(2 << 20) + 5)
    assert excinfo.value.limit == (2 << 20) + 5
    assert not store.exists(key)
    assert _leftovers(store) == []

    stored = store.put_stream(key, io.BytesIO(b"a" * 100), max_bytes=100)  # exactly at the limit is fine
    assert stored.size_bytes == 100


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "/abs",
        "Foo Bar",
        "jobs/../etc",
        "jobs//x",
        "jobs/",
        "",
        "jobs/JOB_1",
        "jobs/.hidden",
        "jobs/a..b",
        "a.b/c",
        "jobs/x\n",
    ],
)
def test_invalid_keys_are_refused(store, key) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)
    with pytest.raises(InvalidKey):
        store.put_bytes(key, b"x")


def test_key_builders() -> None:
    assert job_checkpoint_key("job_1f", 7) == "jobs/job_1f/checkpoints/epoch_0007.pt"
    assert job_prefix("job_1f") == "jobs/job_1f"
    assert dataset_key("ds_9") == "datasets/ds_9"
    assert model_weights_key("mdl_2") == "models/mdl_2/weights.safetensors"
    with pytest.raises(InvalidKey):
        job_student_key("../../etc")


def test_delete_and_delete_prefix(store) -> None:
    for epoch in (1, 2, 3):
        store.put_bytes(job_checkpoint_key("job_a", epoch), b"ckpt")
    store.put_bytes(job_student_key("job_a"), b"w")
    store.put_bytes(job_student_key("job_b"), b"w")

    assert store.delete(job_checkpoint_key("job_a", 1))
    assert not store.delete(job_checkpoint_key("job_a", 1))
    assert store.delete_prefix(job_prefix("job_a")) == 3
    assert not store.exists(job_prefix("job_a"))
    assert store.exists(job_student_key("job_b"))
    assert store.delete_prefix(job_prefix("job_missing")) == 0


def _make_dataset(root, label: str):
    for split in ("train", "val"):
        for cls in ("cat", "Dog Pictures"):
            folder = root / split / cls
            folder.mkdir(parents=True)
            (folder / "img 1.png").write_bytes(f"{label}-{split}-{cls}".encode())
    return root


def test_put_tree_copies_and_replaces_atomically(store, tmp_path) -> None:
    key = dataset_key("ds_1")
    first = store.put_tree(key, _make_dataset(tmp_path / "first", "a"))
    assert (store.path(key) / "train" / "Dog Pictures" / "img 1.png").read_bytes() == b"a-train-Dog Pictures"
    assert first.size_bytes == sum(len(f"a-{s}-{c}") for s in ("train", "val") for c in ("cat", "Dog Pictures"))
    assert (tmp_path / "first").exists()

    second = store.put_tree(key, _make_dataset(tmp_path / "second", "b"), move=True)
    assert (store.path(key) / "val" / "cat" / "img 1.png").read_bytes() == b"b-val-cat"
    assert second.sha256 != first.sha256
    assert not (tmp_path / "second").exists()  # moved
    assert _leftovers(store) == []
    assert sorted(p.name for p in store.path("datasets").iterdir()) == ["ds_1"]


def test_put_tree_digest_depends_only_on_content(store, tmp_path) -> None:
    a = store.put_tree(dataset_key("ds_a"), _make_dataset(tmp_path / "a", "same"))
    b = store.put_tree(dataset_key("ds_b"), _make_dataset(tmp_path / "b", "same"))
    assert (a.size_bytes, a.sha256) == (b.size_bytes, b.sha256)


def test_put_tree_refuses_symlinks(store, tmp_path) -> None:
    src = _make_dataset(tmp_path / "src", "a")
    (src / "train" / "cat" / "leak.png").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="symlink"):
        store.put_tree(dataset_key("ds_1"), src)
    assert not store.exists(dataset_key("ds_1"))
    assert _leftovers(store) == []


def test_what_a_job_reads_is_the_stored_file_itself(store, tmp_path) -> None:
    stored = store.put_bytes(model_weights_key("mdl_1"), b"weights")
    assert store.fetch(stored.key, stored.sha256) == store.path(stored.key)
    assert store.fetch(stored.key, None) == store.path(stored.key)
    with pytest.raises(FileNotFoundError):
        store.fetch(model_weights_key("mdl_2"), None)
    assert store.download_url(stored.key, filename="w.safetensors", media_type="application/octet-stream") is None
    store.close()  # nothing to let go of


def test_an_uploaded_dataset_keeps_its_unpacked_folder(store, tmp_path) -> None:
    archive = tmp_path / "upload.zip"
    archive.write_bytes(b"the archive is not needed once unpacked")
    key = dataset_key("ds_1")
    stored = store.put_unpacked(key, archive, _make_dataset(tmp_path / "unpacked", "a"), move=True)
    assert stored.sha256 == store.put_tree(dataset_key("ds_2"), store.path(key)).sha256  # the tree's digest

    def never(_archive, _dest) -> None:
        raise AssertionError("the local store reads the folder in place")

    assert store.fetch_unpacked(key, stored.sha256, never) == store.path(key)
    assert (store.path(key) / "train" / "cat" / "img 1.png").is_file()
    with pytest.raises(FileNotFoundError):
        store.fetch_unpacked(dataset_key("ds_3"), None, never)


def test_get_artifact_store_uses_settings(sdd_env) -> None:
    settings = sdd_env()
    assert get_artifact_store().root == settings.artifact_dir == settings.home / "artifacts"
