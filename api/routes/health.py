"""Probes for the orchestrator: liveness (``/healthz``) and readiness (``/readyz``), no token.

Ready means the database answers and holds this code's schema (one a newer release migrated
counts), and the broker answers; a 503 ``not_ready`` names the part that is not (``param``).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from api.errors import NOT_MIGRATED_ADVICE, error_response
from api.schemas.errors import error_responses
from service.db.session import check_database
from service.job_queue import check_broker
from service.migrate import missing_migrations

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503), summary="The database and the broker are reachable")
def readyz(request: Request) -> JSONResponse:
    """200 when jobs can be stored and enqueued; 503 naming what is unreachable otherwise."""
    engine = request.app.state.sessionmaker.kw["bind"]
    checks = (("database", lambda: check_database(engine)), ("broker", check_broker))
    for name, check in checks:
        try:
            check()
        except Exception as exc:  # any driver/transport error means "not ready"
            logger.warning("not ready: %s unreachable: %s", name, exc)
            # The reason goes to the log only: this probe needs no token, so it names no hosts.
            return error_response(
                503, "not_ready", f"{name} unreachable ({type(exc).__name__}); see the server log", name
            )
    missing = _missing_migrations(engine)
    if missing is not None:
        logger.warning("not ready: the database is not migrated (%s)", missing)
        return error_response(
            503, "not_ready", f"the database is not migrated ({missing}): {NOT_MIGRATED_ADVICE}", "schema"
        )
    return JSONResponse({"status": "ready", "database": "ok", "broker": "ok"})


def _missing_migrations(engine: Engine) -> str | None:
    """``service.migrate.missing_migrations`` on a connection of the API's own pool."""
    with engine.connect() as connection:
        return missing_migrations(connection)
