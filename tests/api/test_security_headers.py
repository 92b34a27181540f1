"""Security headers on every answer, CORS closed unless configured, API docs only in development."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi.testclient import TestClient

from api.security import API_CSP, UI_CSP
from api.ui.rendering import PAGE_CSP
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def assert_hardened(response, csp: str = API_CSP) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (name, response.headers)
    assert response.headers["content-security-policy"] == csp
    assert "strict-transport-security" not in response.headers  # plain http


def test_api_answers_carry_the_headers(api: Api) -> None:
    job = api.create_job()
    for response in (
        api.get(f"/v1/jobs/{job['id']}"),
        api.get("/v1/jobs"),
        api.client.get("/v1/jobs"),  # 401
        api.get("/v1/jobs/job_nope"),  # 404 from a route
        api.get("/v1/no-such-route"),  # 404 from the router
        api.post_job(method="nope"),  # 422
    ):
        assert_hardened(response)
        assert response.headers["cache-control"] == "no-store"
    health = api.client.get("/healthz")
    assert_hardened(health)
    assert "cache-control" not in health.headers  # only /v1 answers hold tenant data


def test_route_set_headers_are_kept(api: Api) -> None:
    job = api.create_job()
    plot = api.get(f"/v1/jobs/{job['id']}/plots/curves.svg")
    assert plot.status_code == 200 and plot.headers["cache-control"] == "no-store"  # set by the route
    api.succeed_job(job["id"])
    download = api.get(f"/v1/jobs/{job['id']}/student")
    assert download.status_code == 200
    assert_hardened(download)
    assert download.headers["cache-control"] == "no-store"


def test_a_500_carries_the_headers(api: Api) -> None:
    app = api.client.app

    @app.get("/v1/boom-for-headers")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/boom-for-headers", headers=api.auth())
    assert_error(response, 500, "internal_error")
    assert_hardened(response)


def test_dashboard_answers(api: Api) -> None:
    login = api.client.get("/ui/login")
    assert login.status_code == 200
    assert_hardened_ui(login, PAGE_CSP)  # the dashboard's own (stricter) page policy wins
    missing = api.client.get("/ui/no-such-page")
    assert missing.status_code == 404
    assert_hardened_ui(missing, UI_CSP)
    script = api.client.get("/ui/static/ui.js")
    assert script.status_code == 200
    assert_hardened_ui(script, UI_CSP)


def assert_hardened_ui(response, csp: str) -> None:
    for name, value in COMMON.items():
        if name != "referrer-policy":  # the dashboard's pages send same-origin
            assert response.headers.get(name) == value, (name, response.headers)
    assert response.headers["content-security-policy"] == csp


def test_no_inline_script_or_style_in_dashboard_templates() -> None:
    """The dashboard's CSP allows no inline code; a template that needed it would break."""
    from api.ui.rendering import TEMPLATES_DIR

    for template in TEMPLATES_DIR.glob("*.html"):
        text = template.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attributes = match.group(1)
            assert "src=" in attributes or 'type="application/json"' in attributes, (template.name, attributes)
        assert "<style" not in text and " style=" not in text, template.name
        assert not re.search(r"\son[a-z]+=", text), template.name  # onclick= and friends


def test_hsts_only_over_https(api: Api) -> None:
    with TestClient(api.client.app, base_url="https://testserver") as client:
        response = client.get("/v1/jobs", headers=api.auth())
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" not in api.get("/v1/jobs").headers


def test_docs_in_development_with_an_exact_policy(api: Api) -> None:
    assert api.settings.env == "development"
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    csp = docs.headers["content-security-policy"]
    (inline,) = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert api.client.get("/redoc").status_code == 404


def test_no_docs_in_production(sdd_env, sqlite_template) -> None:
    settings = sqlite_settings(sdd_env, sqlite_template, env="production")
    for api in make_api(settings):
        assert_error(api.client.get("/docs"), 404, "not_found")
        assert_error(api.client.get("/redoc"), 404, "not_found")
        assert api.client.get("/openapi.json").status_code == 200


def test_cors_is_closed_unless_configured(api: Api) -> None:
    origin = {"Origin": "https://evil.example"}
    assert "access-control-allow-origin" not in api.get("/v1/jobs", headers=origin).headers
    preflight = api.client.options("/v1/jobs", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_configured_origins(sdd_env, sqlite_template) -> None:
    origin = "https://app.example"
    settings = sqlite_settings(
        sdd_env, sqlite_template, cors_origins=f'["{origin}"]', rate_limit_per_minute=60, rate_limit_burst=1
    )
    for api in make_api(settings):
        allowed = api.get("/v1/jobs", headers={"Origin": origin})
        assert allowed.headers["access-control-allow-origin"] == origin
        assert (
            "access-control-allow-origin" not in api.get("/v1/jobs", headers={"Origin": "https://evil.example"}).headers
        )
        # A rate-limited answer is readable by the allowed origin's scripts, Retry-After included.
        limited = api.get("/v1/jobs", headers={"Origin": origin})
        assert_error(limited, 429, "rate_limited")
        assert limited.headers["access-control-allow-origin"] == origin
        assert "retry-after" in limited.headers["access-control-expose-headers"].lower()
