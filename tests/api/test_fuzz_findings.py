"""Regressions for what fuzzing (tests/fuzz, benchmarks/fuzz.py) found, each answered as documented."""

from __future__ import annotations

from tests.api.conftest import Api, assert_error


def test_sd_on_a_model_whose_final_map_is_1x1_is_refused_not_a_crash(api: Api) -> None:
    """torchvision's resnet18 ends in a 1x1 map at 32 px; the compatibility check's batch-of-one
    forward pass used to fail in batch norm (a 500)."""
    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    response = api.post_job(student="tv/resnet18", method="sd-kd", teacher={"job": teacher["id"]})
    error = assert_error(response, 422, "invalid_spec", "scales")
    assert "1x1" in error["message"]


def test_a_body_that_is_not_utf8_is_a_documented_400(api: Api) -> None:
    response = api.post("/v1/jobs", content=b'{"dataset": "\xc3\x28"}', headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "bad_request", None)
    assert "UTF-8" in error["message"]
    documented = api.client.get("/openapi.json").json()["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"400", "401", "404", "409", "413", "422", "429"} <= set(documented)


def test_every_operation_documents_the_statuses_it_can_answer(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert "500" in statuses, (method, path)
            if path.startswith("/v1/"):
                assert {"401", "422", "429"} <= statuses, (method, path)
                assert "Retry-After" in operation["responses"]["429"]["headers"]
            if "{" in path:
                assert "404" in statuses, (method, path)
    for upload in ("/v1/datasets", "/v1/models"):
        assert {"400", "413", "415"} <= set(paths[upload]["post"]["responses"])
