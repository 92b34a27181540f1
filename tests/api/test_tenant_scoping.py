"""Every object lookup is scoped to the caller's tenant (OWASP API1), for every route there is."""

from __future__ import annotations

import re

from sqlalchemy import select

from service.db.models import Dataset, Tenant, UploadedModel
from tests.api.conftest import Api, assert_error


def add_bobs_dataset_and_model(api: Api) -> tuple[str, str]:
    with api.session() as session:
        bob = session.scalar(select(Tenant).where(Tenant.name == "bob"))
        dataset = Dataset(
            tenant_id=bob.id,
            name="bobs",
            classes=["a", "b"],
            num_classes=2,
            image_size=8,
            train_count=2,
            val_count=2,
            class_counts={},
            storage_key="datasets/x",
            size_bytes=1,
            sha256="0" * 64,
        )
        model = UploadedModel(
            tenant_id=bob.id,
            name="bobs",
            arch="resnet8",
            num_classes=2,
            storage_key="models/x",
            size_bytes=1,
            sha256="0" * 64,
        )
        session.add_all([dataset, model])
        session.commit()
        return dataset.id, model.id


def test_every_route_with_an_id_hides_other_tenants_objects(api: Api) -> None:
    """Routes are taken from the OpenAPI document, so a route added later is checked too."""
    job = api.create_job(token=api.other_token)
    api.succeed_job(job["id"])
    dataset_id, model_id = add_bobs_dataset_and_model(api)
    sweep = api.post(
        "/v1/sweeps",
        api.other_token,
        json={"base": {"dataset": "digits", "student": "resnet8", "method": "ce"}, "grid": {"seed": [0, 1]}},
    )
    assert sweep.status_code == 201, sweep.text
    upload = api.post(
        "/v1/datasets/uploads", api.other_token, json={"filename": "b.zip", "size": 10, "sha256": "0" * 64}
    )
    assert upload.status_code == 201, upload.text
    ids = {
        "job_id": job["id"],
        "dataset_id": dataset_id,
        "model_id": model_id,
        "sweep_id": sweep.json()["id"],
        "upload_id": upload.json()["id"],
        "number": "1",
    }

    checked = []
    for path, operations in api.client.get("/openapi.json").json()["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        if not names:
            continue
        url = path.format(**{name: ids[name] for name in names})
        for method in operations:
            alices = api.client.request(method.upper(), url, headers=api.auth())
            assert_error(alices, 404, "not_found")
            assert bobs_id_in(alices.json()["error"]["message"], ids)  # the same answer as a missing id
            bobs = api.client.request(method.upper(), url, headers=api.auth(api.other_token))
            found = bobs.status_code != 404 or bobs.json()["error"]["code"] != "not_found"  # e.g. no_sample_grid
            assert found, (method, url, bobs.text)
            checked.append(f"{method.upper()} {path}")
    assert len(checked) >= 10, checked


def bobs_id_in(message: str, ids: dict[str, str]) -> bool:
    return any(object_id in message for object_id in ids.values())


def test_references_in_a_job_spec_are_scoped(api: Api) -> None:
    job = api.create_job(token=api.other_token)
    api.succeed_job(job["id"])
    dataset_id, model_id = add_bobs_dataset_and_model(api)
    assert_error(api.post_job(dataset=dataset_id), 404, "not_found", "dataset")
    assert_error(api.post_job(method="kd", teacher={"job": job["id"]}), 404, "not_found", "teacher.job")
    assert_error(api.post_job(method="kd", teacher={"model": model_id}), 404, "not_found", "teacher.model")


def test_a_page_cursor_from_another_tenant_is_unknown(api: Api) -> None:
    theirs = api.create_job(token=api.other_token)
    dataset_id, model_id = add_bobs_dataset_and_model(api)
    for path, cursor in (("/v1/jobs", theirs["id"]), ("/v1/datasets", dataset_id), ("/v1/models", model_id)):
        mine = assert_error(api.get(path, params={"after": cursor}), 422, "validation_error", "after")
        unknown = "job_" + "0" * 24  # well formed, no such object
        missing = assert_error(api.get(path, params={"after": unknown}), 422, "validation_error", "after")
        assert mine["message"].replace(cursor, "ID") == missing["message"].replace(unknown, "ID")
