"""The job page lists the hyper-parameters its method reads: no DKD/NKD weights on an SD-KD or KD job,
no distillation weights on a ce job."""

from __future__ import annotations

import re

import pytest

from api.ui.job_views import method_hyperparameters
from tests.api.conftest import Api
from tests.api.ui.test_pages import Browser

LOSS_WEIGHTS = ("temperature", "kd_weight", "warmup_epochs", "dkd_alpha", "dkd_beta", "nkd_gamma", "nkd_mode")


def listed(html: str) -> set[str]:
    """The names in the page's hyper-parameters table."""
    table = re.search(r'<table class="hyper">.*?</table>', html, re.S)
    assert table is not None
    return set(re.findall(r'<th scope="row">([^<]+)</th>', table.group(0)))


@pytest.mark.parametrize(
    ("method", "shown"),
    [
        ("ce", set()),
        ("kd", {"temperature", "kd_weight", "warmup_epochs"}),
        ("sd-kd", {"temperature", "kd_weight", "warmup_epochs"}),
        ("sd-dkd", {"temperature", "kd_weight", "warmup_epochs", "dkd_alpha", "dkd_beta"}),
        ("nkd", {"temperature", "kd_weight", "warmup_epochs", "nkd_gamma", "nkd_mode"}),
    ],
)
def test_only_the_methods_own_loss_weights_are_listed(method: str, shown: set[str]) -> None:
    hyper = {name: 1.0 for name in LOSS_WEIGHTS} | {"lr": 0.05, "epochs": 2}
    kept = method_hyperparameters({"method": method, "hyperparameters": hyper})
    assert set(kept) == shown | {"lr", "epochs"}
    assert method_hyperparameters({"method": "future-kd", "hyperparameters": hyper}) == hyper  # unknown: all


def test_an_sd_kd_job_page_lists_no_dkd_or_nkd_weights(api: Api, alice: Browser) -> None:
    teacher = api.create_job(hyperparameters={"epochs": 1})
    api.succeed_job(teacher["id"])
    sd_kd = api.create_job(method="sd-kd", teacher={"job": teacher["id"]}, hyperparameters={"epochs": 1})
    sd_dkd = api.create_job(method="sd-dkd", teacher={"job": teacher["id"]}, hyperparameters={"epochs": 1})

    names = listed(alice.get(f"/ui/jobs/{sd_kd['id']}").text)
    assert {"lr", "epochs", "temperature", "kd_weight"} <= names
    assert not names & {"dkd_alpha", "dkd_beta", "nkd_gamma", "nkd_mode"}
    names = listed(alice.get(f"/ui/jobs/{sd_dkd['id']}").text)
    assert {"dkd_alpha", "dkd_beta"} <= names and not names & {"nkd_gamma", "nkd_mode"}
    assert not listed(alice.get(f"/ui/jobs/{teacher['id']}").text) & set(LOSS_WEIGHTS)  # ce
