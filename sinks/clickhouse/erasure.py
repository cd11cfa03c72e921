"""ClickHouse side of erasing a viewer (GDPR): the raw events of a family, and for viewing the
daily watch time the materialized view derived from them.

Lightweight DELETE (chDB and servers 23.3+): rows are masked at once, so reads never see them
again, and dropped by the next merges. Rows inserted later are untouched: what a viewer does
after the erasure stays. On a cluster the DELETE goes to every replica's local table.
"""

from uuid import UUID

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.ddl import EVENT_TABLES, WATCH_TIME_DAILY, TableSpec
from ugc.events import Family


class ClickHouseErasure:
    def __init__(self, client: Client, database: str, cluster: str = "") -> None:
        self._client = client
        self._db = database
        self._cluster = cluster

    def _tables(self, family: Family) -> list[TableSpec]:
        derived = [WATCH_TIME_DAILY] if family is Family.VIEWING else []
        return [EVENT_TABLES[family], *derived]

    def films(self, family: Family, user_id: UUID) -> list[UUID]:
        """The films of which the viewer has events of this family stored."""
        result = self._client.query(
            f"SELECT DISTINCT movie_id FROM {self._db}.{EVENT_TABLES[family].name} "
            "WHERE user_id = {user:UUID}",
            parameters={"user": user_id},
        )
        return [row[0] for row in result.result_rows]

    def erase(self, family: Family, user_id: UUID, films: list[UUID]) -> None:
        """Delete the viewer's rows of these films (a repeat deletes nothing more)."""
        if not films:
            return
        for table in self._tables(family):
            target = f"{self._db}.{table.name}"
            if self._cluster:
                target = f"{target}_local ON CLUSTER {self._cluster}"
            self._client.command(
                f"DELETE FROM {target} "
                "WHERE user_id = {user:UUID} AND movie_id IN {films:Array(UUID)}",
                parameters={"user": user_id, "films": films},
            )
