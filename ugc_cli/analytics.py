"""`ugc analytics ...`: questions analysts and the recommender ask of ClickHouse.

While the raw-events worker runs it owns the chDB folder, so the questions go to its web
views; with no worker (or a ClickHouse server configured) they are asked directly.
`ugc analytics dashboard` prints the link to the worker's dashboard page.
"""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import typer

from sinks.clickhouse.analytics import Analytics, Period
from sinks.clickhouse.client import clickhouse_client, is_locked_error
from ugc.settings import Settings, get_settings
from ugc.tokens import mint_analyst_token

analytics_app = typer.Typer(no_args_is_help=True, help="Watch-time analytics from ClickHouse.")

FROM = typer.Option(None, "--from", help="Start (ISO date/time, UTC); default 7 days ago.")
TO = typer.Option(None, "--to", help="End, exclusive (ISO date/time, UTC); default now.")
LIMIT = typer.Option(10, min=1, max=1000)
# A working day at the dashboard; a link copied somewhere it should not be soon expires.
DASHBOARD_TOKEN_TTL = timedelta(hours=8)


def _worker_url(settings: Settings) -> str:
    return f"http://{settings.worker_web_host}:{settings.raw_events_web_port}"


def dashboard_url(settings: Settings) -> tuple[str, str]:
    """The dashboard's link, carrying a fresh analyst token in its fragment (which browsers
    never send, so it reaches no server log) when this machine may mint one; else the bare
    link and why, and the analyst pastes a token from the auth service."""
    url = f"{_worker_url(settings)}/dashboard"
    try:
        return f"{url}#token={mint_analyst_token(settings, DASHBOARD_TOKEN_TTL)}", ""
    except ValueError as exc:  # production settings, or RS256: only the auth service mints
        return url, f"no token in the link ({exc}); paste an analyst's token into the page"


def _ask(
    settings: Settings, view: str, params: dict[str, str], direct: Callable[[Analytics], Any]
) -> Any:
    url = f"{_worker_url(settings)}/analytics/{view}"
    # The views answer analysts only; an operator's machine holds the signing secret.
    headers = {"Authorization": f"Bearer {mint_analyst_token(settings)}"}
    try:
        response = httpx.get(url, params=params, headers=headers, timeout=60)
    except httpx.ConnectError:
        response = None
    if response is not None and response.status_code == 200:
        return response.json()
    if response is not None and response.status_code == 422:
        raise typer.BadParameter(response.json()["detail"])
    try:
        with clickhouse_client(settings) as client:
            return direct(Analytics(client, settings.clickhouse_db))
    except Exception as exc:
        if is_locked_error(exc):
            raise typer.BadParameter(
                f"the chDB folder is in use by a raw-events worker whose web port is not "
                f"{settings.raw_events_web_port}"
            ) from exc
        raise


def _period(start: datetime | None, end: datetime | None) -> Period:
    end = (end or datetime.now(UTC)).replace(tzinfo=UTC)
    return Period((start or end - timedelta(days=7)).replace(tzinfo=UTC), end)


def _print(rows: Any) -> None:
    for row in rows if isinstance(rows, list) else [rows]:
        typer.echo(json.dumps(row, default=str))


@analytics_app.command("top-films")
def top_films(start: datetime | None = FROM, end: datetime | None = TO, limit: int = LIMIT) -> None:
    """Films by total watch time in a period (one JSON line each)."""
    period = _period(start, end)
    params = {"from": period.start.isoformat(), "to": period.end.isoformat(), "limit": str(limit)}
    _print(
        _ask(
            get_settings(), "top-films", params, lambda a: a.top_films_by_watch_time(period, limit)
        )
    )


@analytics_app.command("completion")
def completion(
    start: datetime | None = FROM, end: datetime | None = TO, limit: int = LIMIT
) -> None:
    """Completion rate per film: viewers who reached 95% among those who played it."""
    period = _period(start, end)
    params = {"from": period.start.isoformat(), "to": period.end.isoformat(), "limit": str(limit)}
    _print(_ask(get_settings(), "completion", params, lambda a: a.completion_rate(period, limit)))


@analytics_app.command("viewer-daily")
def viewer_daily(
    user: UUID = typer.Option(..., "--user", help="The viewer."),
    start: datetime | None = FROM,
    end: datetime | None = TO,
) -> None:
    """A viewer's watch time per day."""
    last = (end or datetime.now(UTC)).date()
    first: date = start.date() if start else last - timedelta(days=30)
    params = {"user_id": str(user), "from": first.isoformat(), "to": last.isoformat()}
    _print(
        _ask(
            get_settings(),
            "viewer-daily",
            params,
            lambda a: a.viewer_daily_watch_time(user, first, last),
        )
    )


@analytics_app.command("dashboard")
def dashboard() -> None:
    """The dashboard's link, with an analyst token valid 8 hours (keep it to yourself)."""
    url, caveat = dashboard_url(get_settings())
    typer.echo(url)
    if caveat:
        typer.echo(caveat, err=True)
