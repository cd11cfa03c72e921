"""The worker's web views: health, Prometheus metrics and the analytics queries.

Analytics are served here because the worker owns the chDB folder while it runs (one process
may open it); `ugc analytics` asks these views, and opens chDB itself when no worker runs.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sinks.clickhouse.analytics import Analytics, Period
from streams.app import app
from streams.resources import clickhouse


@app.page("/health")
async def health(self: View, request: Request) -> Response:
    return self.json({"status": "ok"})


@app.page("/metrics")
async def metrics(self: View, request: Request) -> Response:
    # aiohttp takes the charset separately from the content type.
    content_type = CONTENT_TYPE_LATEST.split("; charset=")[0]
    return self.bytes(generate_latest(), content_type=content_type)


class BadQuery(ValueError):
    pass


def _period(query: Any) -> Period:
    try:
        end = datetime.fromisoformat(query["to"]) if "to" in query else datetime.now(UTC)
        start = (
            datetime.fromisoformat(query["from"]) if "from" in query else end - timedelta(days=7)
        )
    except ValueError as exc:
        raise BadQuery(f"from/to: {exc}") from exc
    return Period(start, end)


def _limit(query: Any) -> int:
    try:
        limit = int(query.get("limit", "10"))
    except ValueError as exc:
        raise BadQuery("limit: not a number") from exc
    if not 1 <= limit <= 1000:
        raise BadQuery("limit: 1..1000")
    return limit


async def _answer(self: View, build: Callable[[], Callable[[Analytics], Any]]) -> Response:
    """Run the query `build` makes from the request; a bad parameter is a 422 naming it."""
    try:
        query = build()
    except BadQuery as exc:
        return self.json({"detail": str(exc)}, status=422)
    return self.json(_jsonable(await clickhouse.analytics(query)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


@app.page("/analytics/top-films")
async def top_films(self: View, request: Request) -> Response:
    def build() -> Callable[[Analytics], Any]:
        period, limit = _period(request.query), _limit(request.query)
        return lambda a: a.top_films_by_watch_time(period, limit)

    return await _answer(self, build)


@app.page("/analytics/completion")
async def completion(self: View, request: Request) -> Response:
    def build() -> Callable[[Analytics], Any]:
        period, limit = _period(request.query), _limit(request.query)
        return lambda a: a.completion_rate(period, limit)

    return await _answer(self, build)


def _viewer(query: Any) -> tuple[UUID, date, date]:
    try:
        user = UUID(query["user_id"])
        end = date.fromisoformat(query["to"]) if "to" in query else datetime.now(UTC).date()
        start = date.fromisoformat(query["from"]) if "from" in query else end - timedelta(days=30)
    except (KeyError, ValueError) as exc:
        raise BadQuery(f"user_id/from/to: {exc}") from exc
    return user, start, end


@app.page("/analytics/viewer-daily")
async def viewer_daily(self: View, request: Request) -> Response:
    def build() -> Callable[[Analytics], Any]:
        user, start, end = _viewer(request.query)
        return lambda a: a.viewer_daily_watch_time(user, start, end)

    return await _answer(self, build)


@app.page("/analytics/viewer-events")
async def viewer_events(self: View, request: Request) -> Response:
    def build() -> Callable[[Analytics], Any]:
        user, _, _ = _viewer(request.query)
        return lambda a: a.viewer_event_counts(user)

    return await _answer(self, build)


def _ingested_query(query: Any) -> tuple[UUID, datetime, int]:
    try:
        user = UUID(query["user_id"])
        since = datetime.fromisoformat(query["since"])
        limit = int(query.get("limit", "10000"))
    except (KeyError, ValueError) as exc:
        raise BadQuery(f"user_id/since/limit: {exc}") from exc
    if not 1 <= limit <= 100_000:
        raise BadQuery("limit: 1..100000")
    # A time without a zone is UTC, like every time this service stores.
    return user, since if since.tzinfo else since.replace(tzinfo=UTC), limit


@app.page("/analytics/viewer-ingested")
async def viewer_ingested(self: View, request: Request) -> Response:
    """When each of a viewer's events was stored in ClickHouse, from `since` on (freshness)."""

    def build() -> Callable[[Analytics], Any]:
        user, since, limit = _ingested_query(request.query)
        return lambda a: a.viewer_ingested_since(user, since, limit)

    return await _answer(self, build)
