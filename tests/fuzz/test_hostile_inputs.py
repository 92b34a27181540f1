"""Property-based hostile input (hypothesis) on every operation that takes a body or a form.

Strategies cover the classes that once cost us: strings with lone surrogates, NUL and other
control characters; nesting deeper than any real body; huge, non-finite and non-ASCII-digit
numbers. Each case must answer below 500, and afterwards every list and page that shows stored
rows must still read back (200), so nothing stored can break a later read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from benchmarks.local_service import prepare_service
from service.db.session import dispose_engines
from service.settings import get_settings

EXAMPLES = int(os.environ.get("SDD_FUZZ_EXAMPLES", "12")) * 2
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

hostile_text = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),  # surrogates (Cs) included
    st.sampled_from(["\ud800", "a\x00b", "\udfff\ud800", "\u202e", "１２", "²", "١٠", "\x1b[2J", "' OR 1=1 --"]),
)
hostile_number = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1e308", str(2**64), str(-(2**70))]),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
JOB_NUMBER_FIELDS = ["beta", "seed", "image_size"]
HYPER_NUMBER_FIELDS = ["lr", "epochs", "batch_size", "weight_decay", "momentum", "temperature", "lr_decay_rate"]
READ_BACK = ["/v1/jobs", "/v1/sweeps", "/v1/datasets", "/v1/models"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.startswith("SDD_")]:
            env.delenv(name)
        get_settings.cache_clear()
        dispose_engines()
        service = prepare_service(
            tmp_path_factory.mktemp("hostile") / "sdd_home", rate_limit_per_minute=0, max_jobs_in_flight=0
        )
        with TestClient(create_app(service.settings)) as test_client:
            yield test_client, {"Authorization": f"Bearer {service.tokens['alice']}"}
        dispose_engines()
        get_settings.cache_clear()


def _raw(value: Any) -> str:
    """JSON text of ``value`` that keeps lone surrogates as ``\\uXXXX`` escapes, as a client may send them."""
    return json.dumps(value, ensure_ascii=True)


def _assert_survives(test_client: TestClient, auth: dict[str, str], response: Any) -> None:
    assert response.status_code < 500, response.text
    for path in READ_BACK:
        assert test_client.get(path, headers=auth).status_code == 200, path
    assert test_client.get("/v1/jobs?limit=100", headers=auth).status_code == 200


def _post_json(test_client: TestClient, auth: dict[str, str], path: str, text: str) -> Any:
    return test_client.post(
        path, content=text.encode("utf-8", "surrogatepass"), headers={**auth, "Content-Type": "application/json"}
    )


BASE_JOB = {"dataset": "digits", "student": "resnet8", "method": "ce", "hyperparameters": {"epochs": 1}}


@FUZZ
@given(key=hostile_text, value=hostile_text)
def test_jobs_with_hostile_text_in_metadata(client, key: str, value: str) -> None:
    test_client, auth = client
    body = _raw({**BASE_JOB, "metadata": {key: value, "list": [value]}})
    _assert_survives(test_client, auth, _post_json(test_client, auth, "/v1/jobs", body))


@FUZZ
@given(field=st.sampled_from(["dataset", "student", "method", "teacher"]), value=hostile_text)
def test_jobs_with_hostile_text_in_named_fields(client, field: str, value: str) -> None:
    test_client, auth = client
    body = {**BASE_JOB, field: {"job": value} if field == "teacher" else value}
    _assert_survives(test_client, auth, _post_json(test_client, auth, "/v1/jobs", _raw(body)))


@FUZZ
@given(field=st.sampled_from(JOB_NUMBER_FIELDS + HYPER_NUMBER_FIELDS), number=hostile_number)
def test_jobs_with_hostile_numbers(client, field: str, number: str) -> None:
    test_client, auth = client
    marker = "__NUMBER__"
    body = dict(BASE_JOB)
    if field in HYPER_NUMBER_FIELDS:
        body["hyperparameters"] = {field: marker}
    else:
        body[field] = marker
    text = _raw(body).replace(f'"{marker}"', number)
    response = _post_json(test_client, auth, "/v1/jobs", text)
    _assert_survives(test_client, auth, response)
    if number in ("NaN", "Infinity", "-Infinity", "1e999", "-1e400"):
        assert response.status_code == 422  # never discovered by the worker


@FUZZ
@given(depth=st.integers(min_value=1, max_value=3000), opener=st.sampled_from(["[", '{"a":']))
def test_deeply_nested_bodies(client, depth: int, opener: str) -> None:
    test_client, auth = client
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    for path, prefix in (
        ("/v1/jobs", _raw(BASE_JOB)[:-1]),
        ("/v1/sweeps", '{"base": ' + _raw(BASE_JOB) + ', "grid": {"seed": [0]}'),
    ):
        response = _post_json(test_client, auth, path, prefix + ', "metadata": {"x": ' + nested + "}}")
        _assert_survives(test_client, auth, response)


@FUZZ
@given(
    field=st.sampled_from(["beta", "seed", "temperature", "method", "scales", "student"]),
    literal=st.one_of(
        hostile_text.map(lambda text: _raw(text)), hostile_number
    ),  # a JSON string, or a number as written
)
def test_sweeps_with_hostile_grid_values(client, field: str, literal: str) -> None:
    test_client, auth = client
    text = '{"base": ' + _raw(BASE_JOB) + ', "grid": {"' + field + '": [' + literal + "]}}"
    _assert_survives(test_client, auth, _post_json(test_client, auth, "/v1/sweeps", text))


@FUZZ
@given(arch=hostile_text, num_classes=st.one_of(hostile_text, hostile_number), name=hostile_text)
def test_model_uploads_with_hostile_form_fields(client, arch: str, num_classes: str, name: str) -> None:
    test_client, auth = client
    fields = {"arch": arch, "num_classes": num_classes, "name": name}
    data = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in fields.items()}
    response = test_client.post("/v1/models", headers=auth, files={"file": ("w.safetensors", b"\x00" * 16)}, data=data)
    _assert_survives(test_client, auth, response)


@FUZZ
@given(name=hostile_text, payload=st.binary(max_size=256))
def test_dataset_uploads_with_hostile_names_and_bytes(client, name: str, payload: bytes) -> None:
    test_client, auth = client
    data = {"name": name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")}
    response = test_client.post("/v1/datasets", headers=auth, files={"file": ("d.zip", payload)}, data=data)
    _assert_survives(test_client, auth, response)
