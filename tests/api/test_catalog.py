"""The catalog lists what a job may name, with defaults and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.conftest import TEST_UPLOAD_LIMIT, Api, make_api, sqlite_settings


def test_catalog_contents(api: Api) -> None:
    catalog = api.get("/v1/catalog").json()
    architectures = {a["name"]: a for a in catalog["architectures"]}
    assert architectures["resnet8"] == {
        "name": "resnet8",
        "sd_supported": True,
        "reason": None,
        "pretrained": None,
        "weights_file": None,
    }
    unsupported = [a for a in catalog["architectures"] if not a["sd_supported"]]
    assert all(a["reason"] for a in unsupported)

    datasets = {d["name"]: d for d in catalog["datasets"]}
    assert set(datasets) == {"cifar10", "cifar100", "digits"}
    assert datasets["digits"] == {
        "name": "digits",
        "num_classes": 10,
        "available": True,
        "availability": "present",
        "note": None,
    }
    cifar = datasets["cifar10"]  # not in this server's data folder, and downloads are off
    assert (cifar["num_classes"], cifar["available"], cifar["availability"]) == (None, False, "missing")
    assert "not in SDD_DATA_ROOT/cifar-10-batches-py, where the service looked" in cifar["note"]
    assert "SDD_ALLOW_DOWNLOAD=true" in cifar["note"] and str(api.settings.data_root) not in cifar["note"]

    methods = {m["name"]: m for m in catalog["methods"]}
    assert set(methods) == {"ce", "kd", "dkd", "nkd", "sd-kd", "sd-dkd", "sd-nkd"}
    assert methods["sd-kd"]["scale_decoupled"] and methods["sd-kd"]["needs_teacher"]
    assert not methods["ce"]["needs_teacher"]
    assert (
        methods["sd-kd"]["hyperparameters"]["ce_weight"],
        methods["sd-kd"]["hyperparameters"]["kd_weight"],
    ) == (0.1, 0.9)
    assert methods["sd-dkd"]["hyperparameters"]["warmup_epochs"] == 20

    assert catalog["defaults"] == {"scales": [1, 2, 4], "beta": 2.0}
    assert catalog["limits"]["max_upload_bytes"] == TEST_UPLOAD_LIMIT
    assert catalog["limits"]["max_epochs"] == 1000 and catalog["limits"]["max_scale"] == 16
    # Nothing trained here yet (medians of recorded epochs: tests/api/ui/test_clone_and_estimate.py).
    assert catalog["measured_speeds"] == [] and catalog["measured_throughput"] == []


def test_a_dataset_the_server_may_download_is_listed_as_downloadable(sdd_env: Any, sqlite_template: Path) -> None:
    for api in make_api(sqlite_settings(sdd_env, sqlite_template, allow_download=True)):
        datasets = {d["name"]: d for d in api.get("/v1/catalog").json()["datasets"]}
        cifar = datasets["cifar100"]
        assert (cifar["available"], cifar["availability"]) == (True, "downloadable")
        assert cifar["note"] == (
            "not on this server yet: the first job naming it downloads CIFAR-100 into SDD_DATA_ROOT/cifar-100-python "
            "(SDD_ALLOW_DOWNLOAD is on)"
        )


def test_a_dataset_whose_files_are_there_but_unreadable_is_missing_with_the_reason(api: Api) -> None:
    folder = api.settings.data_root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
        (folder / name).write_bytes(b"not the real file")
    cifar = {d["name"]: d for d in api.get("/v1/catalog").json()["datasets"]}["cifar10"]
    assert (cifar["available"], cifar["availability"]) == (False, "missing")
    assert "meta file SDD_DATA_ROOT/cifar-10-batches-py/batches.meta is corrupted" in cifar["note"]
