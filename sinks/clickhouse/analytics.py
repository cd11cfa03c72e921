"""Analytics for analysts and the recommender. Parameterised queries only: values travel as
ClickHouse query parameters ({name:Type}), never inside the SQL text."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.ddl import EVENT_TABLES, WATCH_TIME_DAILY
from sinks.mongo.projections import FINISHED_SHARE
from ugc.events import Family


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


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
        selects = " UNION ALL ".join(
            f"SELECT '{family.value}' AS family, event_id, ingested_at "
            f"FROM {self._db}.{table.name} "
            "WHERE user_id = {user:UUID} AND ingested_at >= {since:DateTime64(3, 'UTC')}"
            for family, table in EVENT_TABLES.items()
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
