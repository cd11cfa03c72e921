"""The raw-events worker's web views: health, Prometheus metrics and the analytics queries.

Analytics are served here because this worker owns the chDB folder while it runs (one process
may open it); `ugc analytics` asks these views, and opens chDB itself when no worker runs.
They answer only to a bearer token with `"role": "analyst"` (401 without a valid token, 403
for any other caller, a viewer included): they hold every viewer's history. The dashboard
(`streams.raw.dashboard`) draws its charts from them.
"""

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from faust.web import Request, Response, View

from sinks.clickhouse.analytics import Analytics, Period
from streams.health import ProgressWatch, install_operational_views
from streams.raw.clickhouse import clickhouse
from streams.raw_app import app, settings
from ugc.tokens import ANALYST_ROLE, decode_claims, verification_key

log = logging.getLogger(__name__)
settings.require_private_jwt_secret()  # refuse to start on a key anyone can know
_KEY = verification_key(settings)
watch = ProgressWatch(app, settings.worker_stall_after_s)
install_operational_views(app, watch)

# What ClickHouse's DateTime64 holds; a period outside it is the caller's mistake (422).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, tzinfo=UTC)
# A row per day: a longer period would be more rows than any chart can show.
MAX_DAILY_PERIOD = timedelta(days=3660)


class BadQuery(ValueError):
    pass


class Denied(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _authorize(request: Request) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Denied(401, "missing bearer token")
    try:
        claims = decode_claims(settings, token, _KEY)
    except jwt.InvalidTokenError as exc:
        raise Denied(401, f"invalid token: {exc}") from exc
    if claims.get("role") != ANALYST_ROLE:
        raise Denied(403, f"the analytics views need a token with role {ANALYST_ROLE!r}")


def _moment(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadQuery(f"{name}: {exc}") from exc
    # A time without a zone is UTC, like every time this service stores.
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not EARLIEST <= moment <= LATEST:
        raise BadQuery(f"{name}: outside {EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d}")
    return moment


def _day(text: str, name: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise BadQuery(f"{name}: {exc}") from exc
    if not EARLIEST.date() <= day <= LATEST.date():
        raise BadQuery(f"{name}: outside {EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d}")
    return day


def _period(query: Any) -> Period:
    end = _moment(query["to"], "to") if "to" in query else datetime.now(UTC)
    start = _moment(query["from"], "from") if "from" in query else end - timedelta(days=7)
    if start >= end:
        raise BadQuery("from: not before to")
    return Period(max(start, EARLIEST), end)


def _daily_period(query: Any) -> Period:
    period = _period(query)
    if period.end - period.start > MAX_DAILY_PERIOD:
        raise BadQuery(f"from: a period of at most {MAX_DAILY_PERIOD.days} days")
    return period


def _int(query: Any, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(query.get(name, str(default)))
    except ValueError as exc:
        raise BadQuery(f"{name}: not a number") from exc
    if not low <= value <= high:
        raise BadQuery(f"{name}: {low}..{high}")
    return value


def _uuid(query: Any, name: str) -> UUID | None:
    if not query.get(name):
        return None
    try:
        return UUID(query[name])
    except ValueError as exc:
        raise BadQuery(f"{name}: not a UUID") from exc


def _user(query: Any) -> UUID:
    if (user := _uuid(query, "user_id")) is None:
        raise BadQuery("user_id: required")
    return user


async def _answer(
    self: View, request: Request, build: Callable[[], Callable[[Analytics], Any]]
) -> Response:
    """Authorize, run the query `build` makes from the request; a bad parameter is a 422
    naming it, ClickHouse failing a 503."""
    try:
        _authorize(request)
        query = build()
    except Denied as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return self.json({"detail": str(exc)}, status=exc.status, headers=headers)
    except BadQuery as exc:
        return self.json({"detail": str(exc)}, status=422)
    try:
        result = await clickhouse.analytics(query)
    except Exception as exc:
        log.warning("analytics query failed: %s: %s", type(exc).__name__, exc)
        return self.json(
            {"detail": f"ClickHouse is unavailable: {type(exc).__name__}"},
            status=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )
    return self.json(_jsonable(result))


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
        period, limit = _period(request.query), _int(request.query, "limit", 10, 1, 1000)
        return lambda a: a.top_films_by_watch_time(period, limit)

    return await _answer(self, request, build)


@app.page("/analytics/completion")
async def completion(self: View, request: Request) -> Response:
    def build() -> Callable[[Analytics], Any]:
        period, limit = _period(request.query), _int(request.query, "limit", 10, 1, 1000)
        return lambda a: a.completion_rate(period, limit)

    return await _answer(self, request, build)


@app.page("/analytics/watch-time-per-day")
async def watch_time_per_day(self: View, request: Request) -> Response:
    """Seconds watched per day of the period, of one film (`movie_id`) or all (the dashboard)."""

    def build() -> Callable[[Analytics], Any]:
        period, movie = _daily_period(request.query), _uuid(request.query, "movie_id")
        return lambda a: a.watch_time_per_day(period, movie)

    return await _answer(self, request, build)


@app.page("/analytics/rating-distribution")
async def rating_distribution(self: View, request: Request) -> Response:
    """Viewers per score, of one film (`movie_id`) or all, from ratings given in the period."""

    def build() -> Callable[[Analytics], Any]:
        period, movie = _period(request.query), _uuid(request.query, "movie_id")
        return lambda a: a.rating_distribution(period, movie)

    return await _answer(self, request, build)


@app.page("/analytics/events-per-minute")
async def events_per_minute(self: View, request: Request) -> Response:
    """Events received per minute and family over the last `minutes` (60; up to a day)."""

    def build() -> Callable[[Analytics], Any]:
        minutes = _int(request.query, "minutes", 60, 1, 1440)
        end = datetime.now(UTC)
        return lambda a: a.events_per_minute(Period(end - timedelta(minutes=minutes), end))

    return await _answer(self, request, build)


def _days(query: Any) -> tuple[date, date]:
    end = _day(query["to"], "to") if "to" in query else datetime.now(UTC).date()
    start = _day(query["from"], "from") if "from" in query else end - timedelta(days=30)
    return max(start, EARLIEST.date()), end


@app.page("/analytics/viewer-daily")
async def viewer_daily(self: View, request: Request) -> Response:
    def build() -> Callable[[Analytics], Any]:
        user, (start, end) = _user(request.query), _days(request.query)
        return lambda a: a.viewer_daily_watch_time(user, start, end)

    return await _answer(self, request, build)


@app.page("/analytics/viewer-events")
async def viewer_events(self: View, request: Request) -> Response:
    def build() -> Callable[[Analytics], Any]:
        user = _user(request.query)
        return lambda a: a.viewer_event_counts(user)

    return await _answer(self, request, build)


@app.page("/analytics/viewer-ingested")
async def viewer_ingested(self: View, request: Request) -> Response:
    """When each of a viewer's events was stored in ClickHouse, from `since` on (freshness)."""

    def build() -> Callable[[Analytics], Any]:
        if "since" not in request.query:
            raise BadQuery("since: required")
        user, since = _user(request.query), _moment(request.query["since"], "since")
        limit = _int(request.query, "limit", 10_000, 1, 100_000)
        return lambda a: a.viewer_ingested_since(user, since, limit)

    return await _answer(self, request, build)
