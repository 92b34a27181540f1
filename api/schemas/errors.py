"""The error envelope, as documented in the OpenAPI schema."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. 'validation_error', 'not_found'.")
    message: str = Field(description="What went wrong and what to change, for a person.")
    param: str | None = Field(None, description="The request field at fault, e.g. 'hyperparameters.lr'.")


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer has this shape."""

    error: ErrorBody

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "error": {
                        "code": "validation_error",
                        "message": "method: 'sd-xyz' is not allowed; allowed: 'ce', 'kd', 'dkd', 'nkd', "
                        "'sd-kd', 'sd-dkd' or 'sd-nkd'",
                        "param": "method",
                    }
                }
            ]
        }
    }


_HEADERS: dict[int, dict[str, dict]] = {
    401: {
        "WWW-Authenticate": {"description": "`Bearer`: send an API token.", "schema": {"type": "string"}},
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before retrying (with code `rate_limited`).",
            "schema": {"type": "integer", "minimum": 1},
        },
    },
}
_DESCRIPTIONS = {
    401: "Missing, invalid or revoked API token (`unauthorized`).",
    429: "Too many requests for this token or address (`rate_limited`, see `Retry-After`), or, when "
    "submitting a job, too many of your jobs queued or running (`too_many_jobs`).",
}


def error_responses(*status_codes: int) -> dict[int | str, dict]:
    """``responses=`` for a route: each listed status documented with the envelope (and its headers)."""
    responses: dict[int | str, dict] = {}
    for code in status_codes:
        response: dict = {"model": ErrorResponse}
        if code in _DESCRIPTIONS:
            response["description"] = _DESCRIPTIONS[code]
        if code in _HEADERS:
            response["headers"] = _HEADERS[code]
        responses[code] = response
    return responses
