"""The catalog lists what a job may name, with defaults and limits."""

from __future__ import annotations

from tests.api.conftest import TEST_UPLOAD_LIMIT, Api


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

    datasets = {d["name"]: d["num_classes"] for d in catalog["datasets"]}
    assert datasets["digits"] == 10
    assert set(datasets) == {"cifar10", "cifar100", "digits"}

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
