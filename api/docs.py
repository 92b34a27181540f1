"""``/docs``: Swagger UI over ``/openapi.json``, every file served by the service itself.

Swagger UI's script and style come from the ``swagger-ui-py`` package (its ``static`` folder), our
start-up script from this module: no CDN, no inline script, so the page's policy allows the
service's own files only (``'unsafe-inline'`` for styles alone: Swagger UI sets style attributes
on what it renders). The page is served in every environment: nothing on it reaches another host.
ReDoc is off.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.errors import error_response

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}
ASSETS_CACHE = "public, max-age=86400"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} - API docs</title>
  <link rel="stylesheet" href="{root}/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="{root}/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{root}/docs/static/swagger-ui-bundle.js"></script>
  <script src="{root}/docs/start.js"></script>
</body>
</html>
"""

START = """window.addEventListener("load", () => {{
  window.ui = SwaggerUIBundle({{
    url: {openapi_url},
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  }});
}});
"""


def assets_folder() -> Path:
    """Where the installed swagger-ui-py keeps Swagger UI's built files."""
    return Path(str(importlib.resources.files("swagger_ui") / "static"))


def install_docs(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(PAGE.format(title=app.title, root=root), headers={"Content-Security-Policy": DOCS_CSP})

    @app.get("/docs/start.js", include_in_schema=False)
    def start_script(request: Request) -> Response:
        openapi_url = request.scope.get("root_path", "") + (app.openapi_url or "/openapi.json")
        script = START.format(openapi_url=_js_string(openapi_url))
        return Response(script, media_type="text/javascript", headers={"Content-Security-Policy": DOCS_CSP})

    @app.get("/docs/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in ASSETS:
            return error_response(404, "not_found", f"no such file: /docs/static/{name}")
        return FileResponse(assets_folder() / name, media_type=ASSETS[name], headers={"Cache-Control": ASSETS_CACHE})


def _js_string(text: str) -> str:
    """``text`` as a JavaScript string literal (a root path is the operator's, never a user's)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\u003c")
    return f'"{escaped}"'
