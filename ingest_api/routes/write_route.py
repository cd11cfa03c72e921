"""The route class of the write endpoints: FastAPI documents them, this handles them.

The endpoints keep their FastAPI signatures (a body model and the WriteContext), from which the
OpenAPI is generated as for any route. Handling a request, though, FastAPI's generic request
handler was most of the cost of a single event (the profile in docs/benchmarks.md): for every
request it parses the Content-Type with `email.message`, extracts the endpoint's context for
error messages, solves the dependency graph (the bearer scheme, then WriteContext) and builds
the body field's validation. What these routes need is fixed, so this handler does it directly,
with the same outcomes, in the same order:

1. the body is read; bytes that are not JSON are a 422 `json_invalid`, and bytes that cannot be
   decoded at all (invalid UTF-8, nesting too deep) a 400, before authentication — as FastAPI;
2. the bearer token (401, as `authenticate` answers it);
3. the body validated against the endpoint's model exactly as FastAPI does it (python mode,
   from_attributes), its errors located under `body` (422 through the app's handler).
"""

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ingest_api.auth import authenticate
from ingest_api.dependencies import WriteContext

_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})


class WriteRoute(APIRoute):
    """An APIRoute whose endpoint is `endpoint(body=<model>, context=WriteContext)`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.body_field is not None and self.max_body_size is None:
            # FastAPI's request_response opens two exit stacks per request for dependencies
            # with yield and uploaded files; these endpoints have neither. Exceptions still go
            # to the app's handlers (422, 401, 503) as with any route.
            self.app = _asgi(self.get_route_handler())

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        generic = super().get_route_handler()
        body_field = self.body_field
        if body_field is None:  # not a write endpoint: FastAPI's own handler
            return generic
        validator = body_field.field_info.annotation.__pydantic_validator__  # type: ignore[union-attr]
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            body = _json_body(await request.body(), request.headers.get("content-type"))
            context = _write_context(request)
            if body is None:  # no body at all: FastAPI's error for a missing required body
                missing = {"type": "missing", "loc": ("body",), "msg": "Field required"}
                raise RequestValidationError([{**missing, "input": None}])
            try:
                event = validator.validate_python(body, from_attributes=True)
            except ValidationError as exc:
                raise RequestValidationError(_located(exc, body)) from None
            response: Response = await endpoint(body=event, context=context)
            return response

        return handle


def _asgi(handle: Callable[[Request], Coroutine[Any, Any, Response]]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)

        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handle(request)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(respond, request)(scope, receive, send)

    return app


def _json_body(raw: bytes, content_type: str | None) -> Any:
    """The body as FastAPI reads it for a JSON model: None when empty, JSON when the type says
    so, the bytes otherwise (which the model then refuses, as with FastAPI)."""
    if not raw:
        return None
    if content_type is None:
        return raw
    if content_type.lower() not in _JSON_TYPES and not _is_json_type(content_type):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=exc.doc) from None
    except Exception as exc:  # invalid UTF-8, nesting too deep: FastAPI's 400
        raise HTTPException(400, "There was an error parsing the body") from exc


def _is_json_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media_type.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def _write_context(request: Request) -> WriteContext:
    """What the WriteContext dependency gives the endpoint, without the dependency graph."""
    authorization = request.headers.get("authorization")
    scheme, token = get_authorization_scheme_param(authorization)
    credentials = None
    if authorization and scheme and token and scheme.lower() == "bearer":
        from fastapi.security import HTTPAuthorizationCredentials

        credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
    state = request.app.state
    return WriteContext(authenticate(request, credentials), state.event_service, state.settings)


def _located(exc: ValidationError, body: Any) -> list[dict[str, Any]]:
    """pydantic's errors with the location FastAPI gives a body's: under `body`."""
    return [
        {**error, "loc": ("body", *error["loc"])}
        for error in exc.errors(include_url=False)  # FastAPI leaves the URL out too
    ]
