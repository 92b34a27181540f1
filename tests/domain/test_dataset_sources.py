"""Where datasets may be read from: the allow-list (SDD_DATASET_SOURCES) and an S3 prefix listed
within its bounds, against a real S3-protocol server (moto's, on loopback)."""

from __future__ import annotations

import itertools
import os

import pytest

from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.source_files import S3Files, read_in_order, s3_files
from domain.datasets.sources import check_source, parse_allowed_prefixes, parse_s3_uri, upload_key
from domain.errors import InvalidRequest
from service.db.models import Tenant
from service.s3_store import s3_client
from service.settings import Settings
from tests.fixtures.servers import S3Server

ACME, BETA = Tenant(name="acme"), Tenant(name="beta")
SOURCES = "s3://corpus/public/=*; s3://corpus/acme=acme ;s3://corpus/shared/birds/=acme,beta"
_buckets = itertools.count(1)


def settings_with(sources: str, **values: object) -> Settings:
    return Settings(dataset_sources=sources, env="development", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("uri", "normalised"),
    [
        ("s3://corpus/a/b", "s3://corpus/a/b/"),
        ("s3://corpus/a/b/", "s3://corpus/a/b/"),
        ("s3://corpus", "s3://corpus/"),
    ],
)
def test_s3_addresses_are_normalised_to_one_trailing_slash(uri, normalised):
    assert parse_s3_uri(uri).uri == normalised


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("s3://corpus/a/../acme/", "'..'"),
        ("s3://corpus/a//b/", "empty segment"),
        ("s3://corpus/./a/", "'.'"),
        ("s3://corpus/a\x00b/", "control character"),
        ("https://corpus/a/", "not an s3://"),
        ("s3://Corpus_1/a/", "valid bucket"),
    ],
)
def test_addresses_that_could_name_something_else_are_refused(uri, named):
    with pytest.raises(ValueError, match=named):
        parse_s3_uri(uri)


def test_a_source_is_admitted_under_a_prefix_open_to_its_tenant_by_whole_segments():
    settings = settings_with(SOURCES)
    assert check_source(settings, BETA, "s3://corpus/public/cifar").uri == "s3://corpus/public/cifar/"
    assert check_source(settings, ACME, "s3://corpus/acme").uri == "s3://corpus/acme/"
    assert check_source(settings, ACME, "s3://corpus/acme/birds/2024/").uri == "s3://corpus/acme/birds/2024/"
    assert check_source(settings, BETA, "s3://corpus/shared/birds/").uri == "s3://corpus/shared/birds/"
    for tenant, source in [
        (ACME, "s3://corpus/acme-evil/"),  # a prefix of the text, not of the segments
        (ACME, "s3://corpus/publicity/"),
        (ACME, "s3://corpus/"),  # above every listed prefix
        (ACME, "s3://other/public/"),
        (ACME, "s3://corpus/shared/"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            check_source(settings, tenant, source)
        assert refused.value.code == "source_not_allowed" and refused.value.location == ("source",)
        assert parse_s3_uri(source).uri in refused.value.message


def test_a_tenant_naming_another_tenants_prefix_is_refused_like_any_unlisted_source():
    """The confused deputy: the workers could read acme's prefix, so beta must not get them to."""
    settings = settings_with(SOURCES)
    with pytest.raises(InvalidRequest) as refused:
        check_source(settings, BETA, "s3://corpus/acme/birds/")
    assert refused.value.code == "source_not_allowed"
    assert "s3://corpus/acme/birds/" in refused.value.message and "'beta'" in refused.value.message


def test_no_allow_list_admits_nothing_and_a_malformed_address_is_invalid_source():
    with pytest.raises(InvalidRequest) as refused:
        check_source(settings_with(""), ACME, "s3://corpus/public/")
    assert refused.value.code == "source_not_allowed"
    with pytest.raises(InvalidRequest) as refused:
        check_source(settings_with(SOURCES), ACME, "s3://corpus/public/../acme/")
    assert refused.value.code == "invalid_source" and refused.value.param == "source"


def test_the_allow_list_is_parsed_entry_by_entry_and_a_malformed_entry_is_named():
    allowed = parse_allowed_prefixes(SOURCES)
    assert [(a.location.uri, a.tenants) for a in allowed] == [
        ("s3://corpus/public/", None),
        ("s3://corpus/acme/", frozenset({"acme"})),
        ("s3://corpus/shared/birds/", frozenset({"acme", "beta"})),
    ]
    with pytest.raises(ValueError, match="'s3://corpus/x/'"):
        parse_allowed_prefixes("s3://corpus/x/")
    assert parse_allowed_prefixes("s3://corpus/year=2024/=*")[0].location.uri == "s3://corpus/year=2024/"


def test_an_upload_source_names_only_its_own_datasets_archive():
    assert upload_key("upload:datasets/ds_1/upload.zip", "ds_1") == "datasets/ds_1/upload.zip"
    with pytest.raises(ValueError):
        upload_key("upload:datasets/ds_2/upload.zip", "ds_1")


# ------------------------------------------------------------------ listing an S3 prefix


@pytest.fixture
def bucket(s3_server: S3Server, monkeypatch) -> str:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return s3_server.create_bucket(f"sources-{os.getpid()}-{next(_buckets)}")


def test_a_prefix_is_listed_relative_to_itself_and_read_without_folder_markers(s3_server, bucket):
    client = s3_server.client()
    for key in ("data/train/a.jpg", "data/val/b.jpg", "data/", "data/train/", "database/x.jpg"):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    settings = settings_with("", dataset_s3_endpoint_url=s3_server.endpoint_url)
    files = s3_files(settings, parse_s3_uri(f"s3://{bucket}/data"))
    assert sorted((f.path, f.size_bytes) for f in files.list()) == [("train/a.jpg", 16), ("val/b.jpg", 14)]
    assert files.read("train/a.jpg") == b"data/train/a.jpg"
    with pytest.raises(OSError, match="NoSuchKey"):
        files.read("train/missing.jpg")
    read = list(read_in_order(["val/b.jpg", "nope", "train/a.jpg"], files.read, threads=2))
    assert [path for path, _ in read] == ["val/b.jpg", "nope", "train/a.jpg"]
    assert read[0][1] == b"data/val/b.jpg" and isinstance(read[1][1], OSError)


def test_a_listing_past_its_bounds_or_of_a_missing_bucket_fails_naming_the_bound(s3_server, bucket):
    client = s3_server.client()
    for i in range(5):
        client.put_object(Bucket=bucket, Key=f"p/{i}.jpg", Body=b"x")
    location = parse_s3_uri(f"s3://{bucket}/p/")
    endpoint = s3_client(s3_server.endpoint_url)
    with pytest.raises(IngestionError) as refused:
        S3Files(endpoint, location, time_limit_s=60, max_objects=4).list()
    assert refused.value.code == "listing_too_large" and "SDD_LISTING_MAX_OBJECTS" in refused.value.message
    with pytest.raises(IngestionError) as refused:
        S3Files(endpoint, location, time_limit_s=1e-9, max_objects=100).list()
    assert refused.value.code == "listing_too_large" and "SDD_LISTING_TIME_LIMIT_S" in refused.value.message
    with pytest.raises(IngestionError) as refused:
        S3Files(endpoint, parse_s3_uri("s3://no-such-bucket/p/"), time_limit_s=60, max_objects=100).list()
    assert refused.value.code == "source_unreadable" and "NoSuchBucket" in refused.value.message
