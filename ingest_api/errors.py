"""Error responses: 422 naming the field, 401, 503 with Retry-After; one JSON shape for all.

Every status a client can get is documented on every operation that can answer it, nginx's
included (413 body too large, 429 rate limited, 503 API unreachable: on every path), and the
API port's own body limits (413, 408: ingest_api/limits.py).
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ingest_api.metrics import PRODUCER_ERRORS
from ingest_api.models import ErrorBody
from ingest_api.services.events import ClientTimeError
from schemas.codec import SchemaNotRegistered
from ugc.errors import DependencyUnavailable

RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
WWW_AUTHENTICATE: dict[str, Any] = {
    "WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}}
}


def error_response(
    description: str, headers: dict[str, Any] | None = None, model: Any = ErrorBody
) -> dict[str, Any]:
    """An OpenAPI response entry for FastAPI's `responses=`."""
    response: dict[str, Any] = {"model": model, "description": description}
    if headers:
        response["headers"] = headers
    return response


# What nginx answers itself, whatever the path (infra/nginx/nginx.conf); routers start from it.
EDGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: error_response("Body larger than `UGC_NGINX_BODY_LIMIT` (nginx, or the API port)."),
    429: error_response("Too many requests from this client (nginx).", RETRY_AFTER),
    503: error_response("The API is not reachable (nginx); retry later.", RETRY_AFTER),
}
UNAUTHORIZED = error_response("No, bad or expired bearer token.", WWW_AUTHENTICATE)
UNREADABLE_BODY = error_response(
    "The body cannot be read as JSON: invalid UTF-8, or nested too deeply."
)
SLOW_BODY = error_response(
    "The body did not arrive within `UGC_CLIENT_TIMEOUT_S` (the API port; nginx closes the "
    "connection instead)."
)
# The write endpoints: the above, and what a body can go wrong with.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **EDGE_RESPONSES,
    400: UNREADABLE_BODY,
    401: UNAUTHORIZED,
    408: SLOW_BODY,
    422: error_response("Invalid body; `detail` names the field."),
    503: error_response(
        "Kafka or the registry is unavailable (or nginx cannot reach the API); retry later.",
        RETRY_AFTER,
    ),
}


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def describe_validation_error(
    exc: ValidationError | RequestValidationError, prefix: str = "", tag: object = None
) -> str:
    """One line naming each bad field, e.g. `body.position_ms: Input should be >= 0`.

    `tag`: the discriminator value of a union member, which pydantic puts first in the
    location (`position.position_ms`); left out, so the location is the field's path."""
    parts = []
    for error in exc.errors():
        path = tuple(error.get("loc", ()))
        if tag is not None and path[:1] == (tag,):
            path = path[1:]
        loc = _location(path)
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

    @app.exception_handler(ClientTimeError)
    async def client_time(request: Request, exc: ClientTimeError) -> JSONResponse:
        field = "body.client_ts"
        error = {"field": field, "message": str(exc), "type": "client_ts_out_of_range"}
        return JSONResponse(
            status_code=422, content={"detail": f"{field}: {exc}", "errors": [error]}
        )

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
