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


def error_responses(*status_codes: int) -> dict[int | str, dict]:
    """``responses=`` for a route: each listed status documented with the envelope."""
    return {code: {"model": ErrorResponse} for code in status_codes}
