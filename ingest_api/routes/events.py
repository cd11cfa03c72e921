"""Write endpoints: one per event family, plus a mixed batch. 202 only once Kafka has it."""

from collections import Counter
from typing import Any, cast
from uuid import UUID

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError

from ingest_api.dependencies import WriteContext, WriteContextDep
from ingest_api.errors import (
    ERROR_RESPONSES,
    RETRY_AFTER,
    describe_validation_error,
    error_response,
)
from ingest_api.gateways.event_log import OutgoingEvent
from ingest_api.metrics import EVENTS_PRODUCED, PRODUCER_ERRORS
from ingest_api.models import (
    Accepted,
    AnyEventIn,
    BatchFailure,
    BatchIn,
    BatchResult,
    ErrorBody,
    EventIn,
    FavouriteIn,
    ItemResult,
    PlaybackEventIn,
    PositionIn,
    RatingIn,
    ViewingIn,
)
from ingest_api.routes.write_route import WriteRoute
from ingest_api.services.events import ClientTimeError, Receipt, new_event_ids
from ugc.errors import DependencyUnavailable

# WriteRoute: documented by FastAPI from the signatures, handled without its generic machinery.
router = APIRouter(
    prefix="/api/v1/events", tags=["events"], responses=ERROR_RESPONSES, route_class=WriteRoute
)
ANY_EVENT: TypeAdapter[Any] = TypeAdapter(cast(Any, AnyEventIn))
# A whole batch in one call into pydantic-core (one pass, no Python per item); when any item is
# invalid, the items are validated one by one to say which and why.
ALL_EVENTS: TypeAdapter[list[Any]] = TypeAdapter(cast(Any, list[AnyEventIn]))


async def _accept(context: WriteContext, body: EventIn) -> Response:
    receipt = Receipt.now(context.caller.user_id, context.settings)
    event_id = await context.service.accept(receipt, body)
    EVENTS_PRODUCED.labels(body.type).inc()  # type: ignore[attr-defined]
    # Rendered by hand: the shape is fixed (the Accepted model documents it).
    content = b'{"event_id":"%s","status":"accepted"}' % event_id.encode()
    return Response(content, status_code=202, media_type="application/json")


ACCEPTED: dict[str, Any] = {"status_code": status.HTTP_202_ACCEPTED, "response_model": Accepted}


@router.post("/playback", **ACCEPTED)
async def playback(body: PlaybackEventIn, context: WriteContextDep) -> Response:
    """Play, pause, seek forward or backward, stop — with the position after the action."""
    return await _accept(context, body)


@router.post("/position", **ACCEPTED)
async def position(body: PositionIn, context: WriteContextDep) -> Response:
    """A position heartbeat: the point to resume from."""
    return await _accept(context, body)


@router.post("/viewing", **ACCEPTED)
async def viewing(body: ViewingIn, context: WriteContextDep) -> Response:
    """Seconds watched in one stretch; summed per viewer and film downstream."""
    return await _accept(context, body)


@router.post("/favourites", **ACCEPTED)
async def favourite(body: FavouriteIn, context: WriteContextDep) -> Response:
    """Add a film to, or remove it from, the caller's favourites."""
    return await _accept(context, body)


@router.post("/ratings", **ACCEPTED)
async def rating(body: RatingIn, context: WriteContextDep) -> Response:
    """Rate a film 0 to 10, or remove the rating with `"score": null`."""
    return await _accept(context, body)


# A batch that fails as a whole answers with each item's result, unless the body itself is
# invalid (not a list of objects, too many events): then it is the common error body.
BATCH_FAILED = BatchFailure | ErrorBody
BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_response(
        "The body cannot be read as JSON (invalid UTF-8, or nested too deeply), or, sent with "
        "`Content-Encoding: gzip`, it is not valid gzip (corrupt or truncated)."
    ),
    413: error_response(
        "Body larger than `UGC_NGINX_BODY_LIMIT` (nginx, or the API port); with "
        "`Content-Encoding: gzip`, compressed or once decompressed."
    ),
    207: {"model": BatchResult, "description": "Some events were not accepted."},
    422: error_response(
        "No event is valid (`results` say why), or the body is invalid.", model=BATCH_FAILED
    ),
    503: error_response(
        "No event was stored: Kafka or the registry is unavailable (or nginx cannot reach the "
        "API); retry after Retry-After.",
        RETRY_AFTER,
        model=BATCH_FAILED,
    ),
}


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchResult,
    responses=BATCH_RESPONSES,
)
async def batch(body: BatchIn, context: WriteContextDep) -> Response:
    """Up to `UGC_BATCH_MAX_EVENTS` mixed events (each with `type`), with a result per item.

    202 when every event was accepted; 207 when some were not (each result says why: 422 for an
    invalid event, 503 when it was not stored and should be retried); 422 when every event was
    invalid; 503 when none was stored because Kafka or the registry is unavailable.

    The body may be gzip-compressed (`Content-Encoding: gzip`, through nginx or on the API
    port): `UGC_NGINX_BODY_LIMIT` then bounds the compressed body and the decompressed one (413
    beyond it, however well it compresses); a body that is not valid gzip is a 400.
    """
    caller, service, settings = context.caller, context.service, context.settings
    if len(body.events) > settings.batch_max_events:
        message = f"at most {settings.batch_max_events} per batch"
        too_long = {"field": "body.events", "message": message, "type": "too_long"}
        return JSONResponse(
            status_code=422, content={"detail": f"events: {message}", "errors": [too_long]}
        )
    receipt = Receipt.now(caller.user_id, settings)
    new_ids = new_event_ids(len(body.events))
    results: list[ItemResult] = []
    outgoing: list[tuple[int, OutgoingEvent, str]] = []
    try:
        events: list[Any] | None = ALL_EVENTS.validate_python(body.events)
    except ValidationError:
        events = None
    for index, raw in enumerate(body.events):
        try:
            event = events[index] if events is not None else ANY_EVENT.validate_python(raw)
            built = service.build(receipt, event, new_ids[index])
        except ValidationError as exc:
            error = describe_validation_error(exc, f"events.{index}", tag=raw.get("type"))
            results.append(ItemResult(index=index, status=422, error=error))
            continue
        except ClientTimeError as exc:
            error = f"events.{index}.client_ts: {exc}"
            results.append(ItemResult(index=index, status=422, error=error))
            continue
        outgoing.append((index, built, event.type))

    outcomes: list[DependencyUnavailable | None] = []
    if outgoing:
        try:
            outcomes = await service.accept_many([built for _, built, _ in outgoing])
        except DependencyUnavailable as exc:  # no producer or no schema id: none was sent
            outcomes = [exc] * len(outgoing)
    produced: Counter[str] = Counter()
    stored: list[tuple[int, str]] = []
    for (index, built, event_type), outcome in zip(outgoing, outcomes, strict=True):
        if outcome is None:
            produced[event_type] += 1
            stored.append((index, built.record["event_id"]))
        else:
            PRODUCER_ERRORS.labels(outcome.dependency).inc()
            results.append(ItemResult(index=index, status=503, error=str(outcome)))
    for event_type, count in produced.items():
        EVENTS_PRODUCED.labels(event_type).inc(count)
    if not results:
        return _all_accepted(stored)
    if stored:
        # 207: mixed outcomes, each result says what happened to its event.
        results += (ItemResult(index=i, status=202, event_id=UUID(e)) for i, e in stored)
        results.sort(key=lambda r: r.index)
        rejected = len(results) - len(stored)
        result = BatchResult(accepted=len(stored), rejected=rejected, results=results)
        return JSONResponse(status_code=207, content=result.model_dump(mode="json"))
    results.sort(key=lambda r: r.index)
    return _failed(results, settings.retry_after_s)


def _all_accepted(stored: list[tuple[int, str]]) -> Response:
    """202 with every item's event id, rendered by hand: building and dumping a pydantic model
    per item cost more than the rest of the answer (BatchResult documents the same shape)."""
    items = b",".join(
        b'{"index":%d,"status":202,"event_id":"%s","error":null}' % (index, event_id.encode())
        for index, event_id in stored
    )
    content = b'{"accepted":%d,"rejected":0,"results":[%s]}' % (len(stored), items)
    return Response(content, status_code=202, media_type="application/json")


def _failed(results: list[ItemResult], retry_after_s: int) -> JSONResponse:
    """No event accepted: 503 if any may be retried as it is, else 422 (all invalid)."""
    unstored = [r for r in results if r.status == 503]
    first = unstored[0] if unstored else results[0]
    if unstored:
        code, headers = 503, {"Retry-After": str(retry_after_s)}
        detail = f"no event was stored, retry after Retry-After; first: {first.error}"
    else:
        code, headers = 422, None
        detail = f"no event is valid; first: {first.error}"
    body = BatchFailure(accepted=0, rejected=len(results), results=results, detail=detail)
    return JSONResponse(status_code=code, content=body.model_dump(mode="json"), headers=headers)
