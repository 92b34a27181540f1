"""One ingestion attempt (``domain.datasets.ingestion_run``) from a real S3-protocol source (moto's
server on loopback) or an uploaded archive, into the local artifact store: shards, index, grid,
statistics, bad files, quota, and the allow-list checked again."""

from __future__ import annotations

import io
import itertools
import json
import os
import struct
import tarfile
import zipfile
import zlib

import pytest
from PIL import Image

from domain.datasets.ingestion import IngestionOptions
from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.ingestion_report import RecordedReport
from domain.datasets.ingestion_run import IngestionInput, run_ingestion
from domain.datasets.stored_shards import QuotaGuard
from sdd_core.data import build_datasets, describe_dataset
from sdd_core.data.shard_index import ShardIndex
from service.artifacts import sha256_file
from service.db.models import Tenant
from service.local_store import LocalArtifactStore
from service.settings import Settings
from tests.domain import dataset_files as make
from tests.fixtures.servers import S3Server

_buckets = itertools.count(1)
_datasets = itertools.count(1)
ACME = Tenant(id="tnt_acme", name="acme")


@pytest.fixture
def bucket(s3_server: S3Server, monkeypatch) -> str:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return s3_server.create_bucket(f"ingest-{os.getpid()}-{next(_buckets)}")


@pytest.fixture
def settings(sdd_env, s3_server, bucket) -> Settings:
    return sdd_env(
        dataset_sources=f"s3://{bucket}/=acme", dataset_s3_endpoint_url=s3_server.endpoint_url, shard_max_bytes=1 << 16
    )


@pytest.fixture
def store(settings) -> LocalArtifactStore:
    return LocalArtifactStore(settings.artifact_dir)


def ingest(settings, store, source, *, layout=None, crop=False, quota=None, report=None, dataset_id=None):
    dataset = IngestionInput(
        dataset_id=dataset_id or f"ds_{next(_datasets):024x}", name="birds", tenant=ACME, source=source,
        layout=layout, options=IngestionOptions(crop_to_boxes=crop), archive_sha256=None,
    )  # fmt: skip
    report = report or RecordedReport()
    quota = quota or QuotaGuard(quota_bytes=0, used_by_others=0)
    facts = run_ingestion(settings, store, dataset, quota, settings.work_dir / dataset.dataset_id, report)
    return dataset.dataset_id, facts, report


def huge_png_header(width: int = 8_000, height: int = 6_000) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (past the cap), with no real pixels."""
    out = io.BytesIO()
    Image.new("RGB", (1, 1)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def index_of(store, facts) -> ShardIndex:
    return ShardIndex.from_json(store.path(facts.index_key).read_bytes())


def test_an_image_folder_is_ingested_into_shards_with_its_statistics_bad_files_and_grid(settings, store, s3_server,
                                                                                        bucket, tmp_path):  # fmt: skip
    files = make.image_folder(("cat", "dog", "owl"), train=8, val=3)
    bad = {
        "train/cat/broken.jpg": b"\xff\xd8 not a jpeg",
        "train/dog/empty.png": b"",
        "train/owl/huge.png": huge_png_header(),
    }
    source = make.put_files(s3_server.client(), bucket, "pets/", files | bad | {"train/cat/notes.txt": b"ignored"})
    dataset_id, facts, report = ingest(settings, store, source)

    assert facts.layout == "imagefolder" and facts.classes == ["cat", "dog", "owl"]
    assert ("layout", f"detected the imagefolder layout in {source}", {"layout": "imagefolder"}) in report.events
    assert (facts.train_count, facts.val_count) == (24, 9)
    assert facts.class_counts == {"train": {"cat": 8, "dog": 8, "owl": 8}, "val": {"cat": 3, "dog": 3, "owl": 3}}
    reasons = {entry["path"]: entry["reason"] for entry in facts.bad_files}
    assert set(reasons) == {"train/cat/broken.jpg", "train/dog/empty.png", "train/owl/huge.png"}
    assert "too large to decode safely: 8000x6000" in reasons["train/owl/huge.png"]
    assert facts.statistics["bad_file_count"] == 3
    assert ("bad_files", "3 bad file(s) left out", 3) in [
        (t, m.split(" (")[0], (d or {}).get("count")) for t, m, d in report.events
    ]

    # The index is the dataset's identity and the shards hold the images' bytes as they came.
    index = index_of(store, facts)
    assert facts.manifest_sha256 == index.digest() == sha256_file(store.path(facts.index_key))
    assert all(ref.key.startswith(f"datasets/{dataset_id}/shards/") for ref in (*index.train.shards, *index.val.shards))
    assert all(ref.size_bytes <= settings.shard_max_bytes for ref in index.train.shards)
    assert len(index.train.shards) > 1  # 64 KiB shards
    stored = []
    for ref in (*index.train.shards, *index.val.shards):
        assert sha256_file(store.path(ref.key)) == ref.sha256
        with tarfile.open(store.path(ref.key)) as tar:
            stored += [tar.extractfile(m).read() for m in tar if m.name.endswith(".jpg")]
    assert sorted(stored) == sorted(files.values())
    shard_bytes = sum(ref.size_bytes for ref in (*index.train.shards, *index.val.shards))
    grid = store.path(f"datasets/{dataset_id}/samples.png")
    assert Image.open(grid).format == "PNG"
    assert facts.storage_bytes == shard_bytes + store.path(facts.index_key).stat().st_size + grid.stat().st_size

    # The same working size, pipeline and statistics as the same images uploaded as a folder.
    folder = tmp_path / "folder"
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    as_folder = describe_dataset(f"imagefolder:{folder}", data_root=tmp_path)
    assert (index.image_size, index.pipeline, facts.image_size) == (as_folder.image_size, "cifar", 16)
    assert index.mean == pytest.approx(as_folder.mean, abs=1e-9) and index.std == pytest.approx(as_folder.std, abs=1e-9)
    assert facts.statistics["image_sizes"] == {"min": [16, 16], "max": [16, 16], "median": [16, 16]}

    # sdd_core trains from it, its shards fetched from the artifact store by key.
    train, val, info = build_datasets(f"shards:{store.path(facts.index_key)}", data_root=tmp_path,
                                      fetch_shard=store.fetch)  # fmt: skip
    assert (len(train), len(val), info.num_classes) == (24, 9, 3)
    assert train[0][0].shape == (3, 16, 16)


def test_the_same_source_gives_the_same_shards(settings, store, s3_server, bucket):
    source = make.put_files(s3_server.client(), bucket, "again/", make.image_folder(train=5, val=2))
    _, first, _ = ingest(settings, store, source)
    _, second, _ = ingest(settings, store, source)
    shas = [[ref.sha256 for ref in index_of(store, facts).train.shards] for facts in (first, second)]
    assert shas[0] == shas[1]


def test_cub200_cropped_to_its_boxes(settings, store, s3_server, bucket):
    source = make.put_files(s3_server.client(), bucket, "cub/", make.cub200(classes=2, per_class=4))
    _, facts, _ = ingest(settings, store, source, layout="cub200", crop=True)
    assert facts.classes == ["001.Bird_1", "002.Bird_2"] and (facts.train_count, facts.val_count) == (6, 2)
    assert facts.statistics["image_sizes"]["max"] == [20, 16]  # the boxes, not the 32 x 24 images
    with tarfile.open(store.path(index_of(store, facts).train.shards[0].key)) as tar:
        image = next(m for m in tar if m.name.endswith(".jpg"))
        assert Image.open(io.BytesIO(tar.extractfile(image).read())).size == (20, 16)


def test_imagenet_with_the_devkits_labels(settings, store, s3_server, bucket):
    source = make.put_files(s3_server.client(), bucket, "ilsvrc/", make.imagenet("devkit"))
    _, facts, report = ingest(settings, store, source)
    assert facts.layout == "imagenet" and facts.classes == list(make.WORDS)
    assert facts.class_counts["val"] == {words: 2 for words in make.WORDS}


def test_registered_shards_are_indexed_where_they_lie(settings, store, s3_server, bucket):
    files = make.shards(("cat", "dog"), train=6, val=2)
    source = make.put_files(s3_server.client(), bucket, "export/", files)
    dataset_id, facts, _ = ingest(settings, store, source)
    index = index_of(store, facts)
    assert facts.layout == "shards" and (facts.train_count, facts.val_count) == (6, 2)
    assert [ref.key for ref in index.val.shards] == [f"{source}val/val-000000.tar"]
    assert index.val.shards[0].sha256 == __import__("hashlib").sha256(files["val/val-000000.tar"]).hexdigest()
    assert not store.path(f"datasets/{dataset_id}/shards").exists()  # nothing copied


def test_a_shard_with_a_sample_without_its_class_fails_naming_the_sample(settings, store, s3_server, bucket):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("000.jpg", make.image_bytes(0, 0)), ("000.cls", b"0"), ("001.jpg", make.image_bytes(1, 1))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    files = {"classes.txt": b"cat\ndog\n", "train/a.tar": out.getvalue(), "val/b.tar": out.getvalue()}
    source = make.put_files(s3_server.client(), bucket, "broken/", files)
    with pytest.raises(IngestionError) as failed:
        ingest(settings, store, source, layout="shards")
    assert (
        failed.value.code == "bad_shard" and "train/a.tar: sample '001' lacks its .cls member" in failed.value.message
    )


def test_past_the_quota_the_ingestion_fails_naming_it(settings, store, s3_server, bucket):
    files = make.image_folder(train=8, val=2)
    source = make.put_files(s3_server.client(), bucket, "big/", files)
    with pytest.raises(IngestionError) as failed:
        ingest(settings, store, source, quota=QuotaGuard(quota_bytes=100_000, used_by_others=99_000))
    assert failed.value.code == "quota_exceeded" and "100,000 bytes" in failed.value.message
    images = sum(len(data) for data in files.values())  # enough for the images, not for the shards' headers
    with pytest.raises(IngestionError) as failed:
        ingest(settings, store, source, quota=QuotaGuard(quota_bytes=images + 100, used_by_others=0))
    assert failed.value.code == "quota_exceeded" and "shard" in failed.value.message


def test_the_allow_list_is_checked_again_and_an_empty_source_is_named(sdd_env, settings, store, s3_server, bucket):
    source = make.put_files(s3_server.client(), bucket, "pets/", make.image_folder())
    narrowed = sdd_env(dataset_sources=f"s3://{bucket}/other/=acme", dataset_s3_endpoint_url=s3_server.endpoint_url)
    with pytest.raises(IngestionError) as failed:
        ingest(narrowed, store, source)
    assert failed.value.code == "source_not_allowed" and source in failed.value.message
    with pytest.raises(IngestionError) as failed:
        ingest(settings, store, f"s3://{bucket}/nothing-here/")
    assert failed.value.code == "empty_source" and "nothing-here" in failed.value.message


def test_an_uploaded_archive_is_extracted_with_the_archive_checks(settings, store):
    dataset_id = f"ds_{next(_datasets):024x}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, data in make.image_folder(train=3, val=1, root="pets/").items():
            archive.writestr(path, data)
    store.put_bytes(f"datasets/{dataset_id}/upload.zip", out.getvalue())
    _, facts, report = ingest(settings, store, f"upload:datasets/{dataset_id}/upload.zip", layout="imagefolder",
                              dataset_id=dataset_id)  # fmt: skip
    assert (facts.train_count, facts.val_count) == (6, 2) and ("extracting", None) in report.stages
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.jpg", make.image_bytes(0, 0))
    other = f"ds_{next(_datasets):024x}"
    store.put_bytes(f"datasets/{other}/upload.zip", evil.getvalue())
    with pytest.raises(IngestionError) as failed:
        ingest(settings, store, f"upload:datasets/{other}/upload.zip", dataset_id=other)
    assert failed.value.code == "invalid_archive" and "points outside the archive" in failed.value.message
    with pytest.raises(IngestionError) as failed:  # another dataset's archive
        ingest(settings, store, f"upload:datasets/{dataset_id}/upload.zip", dataset_id=other)
    assert failed.value.code == "invalid_archive"


def test_a_class_whose_every_image_is_bad_fails_naming_it(settings, store, s3_server, bucket):
    files = make.image_folder(("cat", "dog"), train=3, val=1)
    files |= {f"train/dog/dog_{i:03d}.jpg": b"garbage" for i in range(3)}
    source = make.put_files(s3_server.client(), bucket, "dogless/", files)
    with pytest.raises(IngestionError) as failed:
        ingest(settings, store, source)
    assert failed.value.code == "empty_class" and "'dog' has no usable training image" in failed.value.message
    assert json.dumps(failed.value.message)  # plain text
