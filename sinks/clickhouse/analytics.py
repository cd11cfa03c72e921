"""Analytics for analysts and the recommender. Parameterised queries only: values travel as
ClickHouse query parameters ({name:Type}), never inside the SQL text."""

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.ddl import EVENT_TABLES, WATCH_TIME_DAILY
from sinks.mongo.projections import FINISHED_SHARE
from ugc.events import Family

# The rating scale of the API (0..10): the histogram has a bar for each score.
MAX_SCORE = 10
MINUTE = timedelta(minutes=1)
# A film, or every film when None: one SQL text for both, the film travels as a parameter.
FILM_FILTER = "({movie:Nullable(UUID)} IS NULL OR movie_id = {movie:Nullable(UUID)})"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive

    def days(self) -> tuple[date, date]:
        """The first day of the period and the day after its last one (UTC)."""
        last = (self.end - timedelta(milliseconds=1)).astimezone(UTC).date()
        return self.start.astimezone(UTC).date(), last + timedelta(days=1)


class Analytics:
    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = database

    def _rows(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        result = self._client.query(sql, parameters=parameters)
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def top_films_by_watch_time(self, period: Period, limit: int) -> list[dict[str, Any]]:
        table = EVENT_TABLES[Family.VIEWING].name
        return self._rows(
            "SELECT movie_id, sum(watched_seconds) AS watched_seconds, "
            "uniqExact(user_id) AS viewers "
            f"FROM {self._db}.{table} FINAL "
            "WHERE client_ts >= {start:DateTime64(3)} AND client_ts < {end:DateTime64(3)} "
            "GROUP BY movie_id ORDER BY watched_seconds DESC, movie_id LIMIT {limit:UInt32}",
            {"start": period.start, "end": period.end, "limit": limit},
        )

    def completion_rate(self, period: Period, limit: int) -> list[dict[str, Any]]:
        """Per film: viewers who reached the end (95%) among viewers who played it."""
        table = EVENT_TABLES[Family.PLAYBACK].name
        return self._rows(
            "SELECT movie_id, uniqExact(user_id) AS viewers, "
            "uniqExactIf(user_id, duration_ms > 0 AND position_ms >= {share:Float64} * duration_ms)"
            " AS finished, round(finished / viewers, 4) AS completion_rate "
            f"FROM {self._db}.{table} FINAL "
            "WHERE client_ts >= {start:DateTime64(3)} AND client_ts < {end:DateTime64(3)} "
            "GROUP BY movie_id ORDER BY viewers DESC, movie_id LIMIT {limit:UInt32}",
            {"start": period.start, "end": period.end, "limit": limit, "share": FINISHED_SHARE},
        )

    def watch_time_per_day(self, period: Period, movie_id: UUID | None) -> list[dict[str, Any]]:
        """Seconds watched on each day of the period (a day without viewing is 0), of one film
        or of all; the same rows as the top films, so the two always agree."""
        table = EVENT_TABLES[Family.VIEWING].name
        first, after_last = period.days()
        return self._rows(
            "SELECT toDate(client_ts) AS day, sum(watched_seconds) AS watched_seconds "
            f"FROM {self._db}.{table} FINAL "
            "WHERE client_ts >= {start:DateTime64(3)} AND client_ts < {end:DateTime64(3)} "
            f"AND {FILM_FILTER} "
            "GROUP BY day ORDER BY day WITH FILL FROM {first:Date} TO {after_last:Date}",
            {**self._period(period), "movie": movie_id, "first": first, "after_last": after_last},
        )

    def rating_distribution(self, period: Period, movie_id: UUID | None) -> list[dict[str, Any]]:
        """Viewers per score (every score 0..MAX_SCORE): each viewer's newest rating of a film in
        the period, by (client time, event id) as the projections decide; a removal removes it."""
        table = EVENT_TABLES[Family.RATINGS].name
        # argMax skips a NULL argument, so the score travels in a tuple: a removal can win.
        return self._rows(
            "SELECT toUInt8(assumeNotNull(newest)) AS score, count() AS viewers FROM ("
            "SELECT argMax(tuple(score), (client_ts, toString(event_id))).1 AS newest "
            f"FROM {self._db}.{table} FINAL "
            "WHERE client_ts >= {start:DateTime64(3)} AND client_ts < {end:DateTime64(3)} "
            f"AND {FILM_FILTER} GROUP BY movie_id, user_id"
            ") WHERE newest IS NOT NULL "
            "GROUP BY score ORDER BY score WITH FILL FROM 0 TO {top:UInt8} + 1",
            {**self._period(period), "movie": movie_id, "top": MAX_SCORE},
        )

    def events_per_minute(self, period: Period) -> list[dict[str, Any]]:
        """Events received (the API's time) per minute and family: a row for every family and
        every minute the period touches, 0 included, oldest first."""
        selects = self._every_family(
            "toStartOfMinute(server_ts) AS minute",
            " FINAL WHERE server_ts >= {start:DateTime64(3)} AND server_ts < {end:DateTime64(3)}",
        )
        counted = self._rows(
            f"SELECT family, minute, count() AS events FROM ({selects}) GROUP BY family, minute",
            self._period(period),
        )
        events = {
            (row["family"], row["minute"].replace(tzinfo=UTC)): row["events"] for row in counted
        }
        first = period.start.astimezone(UTC).replace(second=0, microsecond=0)
        minutes = math.ceil((period.end - first) / MINUTE)
        return [
            {
                "minute": minute,
                "family": family.value,
                "events": events.get((family.value, minute), 0),
            }
            for minute in (first + n * MINUTE for n in range(minutes))
            for family in EVENT_TABLES
        ]

    def _every_family(self, columns: str, rest: str) -> str:
        """`SELECT family, <columns> FROM <table><rest>` over every family's table, as one."""
        return " UNION ALL ".join(
            f"SELECT '{family.value}' AS family, {columns} FROM {self._db}.{table.name}{rest}"
            for family, table in EVENT_TABLES.items()
        )

    @staticmethod
    def _period(period: Period) -> dict[str, datetime]:
        return {"start": period.start, "end": period.end}

    def viewer_daily_watch_time(
        self, user_id: UUID, start: date, end: date
    ) -> list[dict[str, Any]]:
        """Seconds a viewer watched per day (from the deduplicating materialized view)."""
        return self._rows(
            "SELECT day, arraySum(x -> x.2, groupUniqArrayMerge(watched)) AS watched_seconds "
            f"FROM {self._db}.{WATCH_TIME_DAILY.name} "
            "WHERE user_id = {user:UUID} AND day >= {start:Date} AND day <= {end:Date} "
            "GROUP BY day ORDER BY day",
            {"user": user_id, "start": start, "end": end},
        )

    def viewer_ingested_since(
        self, user_id: UUID, since: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """When each of a viewer's events was stored (its ingested_at), oldest first, from
        `since` on: freshness checks. Raw rows, so a redelivered event may appear twice."""
        selects = self._every_family(
            "event_id, ingested_at",
            " WHERE user_id = {user:UUID} AND ingested_at >= {since:DateTime64(3, 'UTC')}",
        )
        rows = self._rows(
            f"SELECT family, event_id, ingested_at FROM ({selects}) "
            "ORDER BY ingested_at, event_id LIMIT {limit:UInt32}",
            {"user": user_id, "since": since, "limit": limit},
        )
        for row in rows:  # the driver hands back naive UTC datetimes: say so
            row["ingested_at"] = row["ingested_at"].replace(tzinfo=UTC)
        return rows

    def viewer_event_counts(self, user_id: UUID) -> dict[str, int]:
        """Distinct events stored per family for one viewer (operators, tests)."""
        counts = {}
        for family, table in EVENT_TABLES.items():
            result = self._client.query(
                f"SELECT count() FROM {self._db}.{table.name} FINAL WHERE user_id = {{user:UUID}}",
                parameters={"user": user_id},
            )
            counts[family.value] = int(result.result_rows[0][0])
        return counts
