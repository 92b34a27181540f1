"""Security headers on every answer, CORS closed unless configured, API docs from the service's own files."""

from __future__ import annotations

import re

import pytest
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


@pytest.mark.parametrize("env", ["production", "development"])
def test_docs_in_every_environment_from_the_services_own_files(sdd_env, sqlite_template, env: str) -> None:
    """Swagger UI once loaded from a CDN (so it was served in development only): every file it needs
    now comes from the service, under a policy that allows nothing else and no inline script."""
    settings = sqlite_settings(sdd_env, sqlite_template, env=env)
    for api in make_api(settings):
        docs = api.client.get("/docs")
        assert docs.status_code == 200 and 'id="swagger-ui"' in docs.text
        assert "http" not in docs.text.split("<body>")[1]  # every src and href is the service's own
        assert not re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)  # no inline script
        csp = docs.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "http" not in csp
        for src in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
            asset = api.client.get(src)
            assert asset.status_code == 200 and len(asset.content) > 100, src
        start = api.client.get("/docs/start.js").text
        assert '"/openapi.json"' in start and "SwaggerUIBundle" in start
        assert_error(api.client.get("/docs/static/swagger-editor-bundle.js"), 404, "not_found")  # the listed files only
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
