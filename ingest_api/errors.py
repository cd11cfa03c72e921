"""Error responses: 422 naming the field, 401, 503 with Retry-After; one JSON shape for all."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ingest_api.metrics import PRODUCER_ERRORS
from ingest_api.models import ErrorBody
from ingest_api.services.events import ClockSkewError
from schemas.codec import SchemaNotRegistered
from ugc.errors import DependencyUnavailable

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No, bad or expired bearer token."},
    413: {"model": ErrorBody, "description": "Body larger than the limit (nginx)."},
    422: {"model": ErrorBody, "description": "Invalid body; `detail` names the field."},
    503: {"model": ErrorBody, "description": "Kafka or the registry is unavailable; retry later."},
}


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def describe_validation_error(
    exc: ValidationError | RequestValidationError, prefix: str = ""
) -> str:
    """One line naming each bad field, e.g. `body.position_ms: Input should be >= 0`."""
    parts = []
    for error in exc.errors():
        loc = _location(tuple(error.get("loc", ())))
        where = ".".join(p for p in (prefix, loc) if p)
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def install_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    unavailable_headers = {"Retry-After": str(retry_after_s)}

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _location(tuple(e.get("loc", ()))), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        return JSONResponse(
            status_code=422, content={"detail": describe_validation_error(exc), "errors": errors}
        )

    @app.exception_handler(ClockSkewError)
    async def clock_skew(request: Request, exc: ClockSkewError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": f"body.client_ts: {exc}"})

    @app.exception_handler(DependencyUnavailable)
    async def unavailable(request: Request, exc: DependencyUnavailable) -> JSONResponse:
        PRODUCER_ERRORS.labels(exc.dependency).inc()
        return JSONResponse(
            status_code=503, content={"detail": str(exc)}, headers=unavailable_headers
        )

    @app.exception_handler(SchemaNotRegistered)
    async def not_registered(request: Request, exc: SchemaNotRegistered) -> JSONResponse:
        PRODUCER_ERRORS.labels("schema_registry").inc()
        return JSONResponse(
            status_code=503, content={"detail": str(exc)}, headers=unavailable_headers
        )
