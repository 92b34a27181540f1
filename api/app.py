"""The FastAPI application: ``create_app(settings)`` wires settings, database, broker and routes.

Everything under ``/v1`` needs a bearer token; ``/healthz`` and ``/readyz`` do not. Every error
answer, unknown routes included, has the envelope of ``api.errors``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from api.deps import get_current_tenant
from api.errors import install_error_handlers
from api.metrics import install_metrics
from api.request_ids import RequestIdMiddleware
from api.routes import catalog, datasets, health, job_artifacts, job_plots, jobs, models, sweeps
from api.schemas.errors import error_responses
from api.security import install_security
from api.server_options import install_access_log_redaction
from api.ui.routes import install_ui
from service.broker import celery_app, configure
from service.db.session import get_sessionmaker
from service.settings import Settings, get_settings

logger = logging.getLogger(__name__)

API_VERSION = "1"
DESCRIPTION = """\
Knowledge-distillation jobs with **Scale Decoupled Distillation** (SDD, CVPR 2024).

Submit a job (dataset, student, teacher, method, SDD scales and beta, hyper-parameters), poll it,
download the distilled student. Submit a sweep (a job and a grid of methods, β, scales, seeds, …)
to compare configurations over seeds, with a report that says which one wins, by how much, how
sure. Upload your own datasets (image-folder archives) and teacher weights (safetensors). Every
call under `/v1` needs `Authorization: Bearer <token>`.

Errors always look like `{"error": {"code": "...", "message": "...", "param": "..."}}`; `param`
names the request field at fault.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new application for ``settings`` (default: the process settings from the environment)."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    sessionmaker = get_sessionmaker(settings)
    configure(celery_app, settings)  # the producer sends to the broker these settings name

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        logger.info("sdd-jobs API up (%s; database %s)", settings.env, sessionmaker.kw["bind"].url.render_as_string())
        yield

    app = FastAPI(
        title="sdd-jobs",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=error_responses(500),
        docs_url=None,  # api.security serves /docs in development only
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.sessionmaker = sessionmaker
    install_access_log_redaction()
    install_error_handlers(app)
    install_security(app, settings)  # headers, rate limits, CORS, /docs
    install_metrics(app, settings, sessionmaker)  # /metrics and the request counters
    app.add_middleware(RequestIdMiddleware)  # outermost: every line of a request carries its id

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(get_current_tenant)], responses=error_responses(401, 422, 429))
    for module in (jobs, job_artifacts, job_plots, sweeps, datasets, models, catalog):
        v1.include_router(module.router)
    app.include_router(health.router)
    app.include_router(v1)
    install_ui(app)  # the dashboard at /ui (cookie sign-in, see api.ui.routes)
    return app
