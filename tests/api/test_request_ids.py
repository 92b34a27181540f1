"""Every answer names its request (``X-Request-ID``) and the request's log lines carry that id and the tenant's."""

from __future__ import annotations

import io
import json
import logging
import re

from fastapi import Depends
from fastapi.testclient import TestClient

from api.deps import get_current_tenant
from service.logs import ContextFilter, formatter_for
from tests.api.conftest import Api, assert_error


def test_an_id_is_made_for_every_answer_and_a_plain_client_id_kept(api: Api) -> None:
    made = api.get("/v1/jobs").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert api.get("/v1/jobs").headers["X-Request-ID"] != made
    assert api.get("/v1/jobs", headers={"X-Request-ID": "client-42.a:b_c"}).headers["X-Request-ID"] == "client-42.a:b_c"
    assert api.client.get("/healthz").headers["X-Request-ID"]  # unauthenticated answers too
    assert api.client.get("/v1/jobs").headers["X-Request-ID"]  # and refusals (401)


def test_an_id_that_could_forge_log_lines_is_replaced(api: Api) -> None:
    for hostile in ("a" * 65, 'x"}\n{"level":"ERROR', "with space", "ünïcode"):
        answered = api.get("/v1/jobs", headers={"X-Request-ID": hostile.encode()})
        assert re.fullmatch(r"[0-9a-f]{32}", answered.headers["X-Request-ID"]), hostile


def test_a_500_names_its_request_and_its_log_line_the_tenant(api: Api) -> None:
    def boom() -> None:
        raise RuntimeError("a bug")

    app = api.client.app
    app.add_api_route("/v1/boom", boom, dependencies=[Depends(get_current_tenant)])  # type: ignore[attr-defined]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter_for("json"))
    errors = logging.getLogger("api")
    errors.addHandler(handler)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/v1/boom", headers=api.auth() | {"X-Request-ID": "req-500"})
    finally:
        errors.removeHandler(handler)
    error = assert_error(response, 500, "internal_error")
    assert response.headers["X-Request-ID"] == "req-500" and "request id req-500" in error["message"]
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == "req-500" and line["tenant_id"].startswith("tnt_") and line["level"] == "ERROR"
    assert "RuntimeError: a bug" in line["exception"] and api.token not in stream.getvalue()
