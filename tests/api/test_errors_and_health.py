"""Authentication, the error envelope on every failure, the probes and the OpenAPI document."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from service.db.models import ApiToken
from service.migrate import head_revision, upgrade
from service.tokens import hash_token, revoke_token
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings
from tests.fixtures.servers import free_port


def test_v1_needs_a_valid_token(api: Api) -> None:
    for path in ("/v1/jobs", "/v1/datasets", "/v1/models", "/v1/catalog", "/v1/jobs/job_x"):
        missing = api.client.get(path)
        assert_error(missing, 401, "unauthorized")
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = api.client.get(path, headers={"Authorization": "Bearer sdd_not-a-token"})
        assert_error(wrong, 401, "unauthorized")
        assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert_error(api.client.get("/v1/jobs", headers={"Authorization": f"Basic {api.token}"}), 401)
    assert_error(api.client.post("/v1/jobs", json={}), 401)  # auth before validation


def test_revoked_token_is_refused(api: Api) -> None:
    with api.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(api.token)))
        assert revoke_token(session, row.id)
        session.commit()
    assert_error(api.get("/v1/jobs"), 401, "unauthorized")


def test_envelope_on_unknown_route_and_method(api: Api) -> None:
    assert_error(api.get("/v1/nothing-here"), 404, "not_found", None)
    assert_error(api.client.get("/nothing"), 404, "not_found", None)
    response = api.client.delete("/v1/jobs", headers=api.auth())
    error = assert_error(response, 405, "method_not_allowed", None)
    assert "GET" in error["message"] and "POST" in error["message"]
    assert response.headers["Allow"] == "GET, POST"


def test_envelope_on_malformed_json(api: Api) -> None:
    response = api.post("/v1/jobs", content=b"{nope", headers={"Content-Type": "application/json"})
    error = assert_error(response, 422, "validation_error", None)
    assert "JSON" in error["message"]


def test_unhandled_error_is_500_without_internals(api: Api) -> None:
    app = api.client.app

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    error = assert_error(response, 500, "internal_error", None)
    assert "secret" not in response.text and "passwd" not in response.text
    assert error["message"]


def test_healthz_and_readyz(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_readyz_names_the_unreachable_part(sdd_env, sqlite_template) -> None:
    settings = sqlite_settings(sdd_env, sqlite_template, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    for api in make_api(settings):
        assert_error(api.client.get("/readyz"), 503, "not_ready", "broker")
        assert api.client.get("/healthz").status_code == 200
    settings = sqlite_settings(
        sdd_env, sqlite_template, database_url=f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/none"
    )
    with TestClient(create_app(settings)) as client:
        error = assert_error(client.get("/readyz"), 503, "not_ready", "database")
        assert "127.0.0.1" not in error["message"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_database_without_the_schema_is_a_server_still_starting(backend: str, sdd_env, request) -> None:
    """What `sdd login` meets while a server's migration runs: 503s it can tell from a broken server."""
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    settings = sdd_env(database_url=url)
    settings.ensure_dirs()
    with TestClient(create_app(settings)) as client:
        error = assert_error(client.get("/readyz"), 503, "not_ready", "schema")
        assert "not migrated (no schema)" in error["message"] and "sdd migrate" in error["message"]
        response = client.get("/v1/jobs", headers={"Authorization": "Bearer sdd_anything"})
        error = assert_error(response, 503, "database_not_migrated", None)
        assert "starting" in error["message"] and response.headers["Retry-After"] == "5"
        upgrade(str(settings.database_url), "0001_initial")
        error = assert_error(client.get("/readyz"), 503, "not_ready", "schema")
        assert f"at revision 0001_initial, not {head_revision()}" in error["message"]
        upgrade(str(settings.database_url))
        assert client.get("/readyz").status_code == 200


def test_openapi_documents_the_contract(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert spec["info"]["title"] == "sdd-jobs"
    create = spec["paths"]["/v1/jobs"]["post"]
    assert create["description"]
    assert create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    schemas = spec["components"]["schemas"]
    assert schemas["JobCreate"]["examples"] and schemas["JobCreate"]["additionalProperties"] is False
    assert "description" in schemas["JobCreate"]["properties"]["dataset"]
    for name, field in schemas["Progress"]["properties"].items():
        assert field["description"] and field["examples"], name
    upload = spec["paths"]["/v1/datasets"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["properties"]["file"]["format"] == "binary"
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
