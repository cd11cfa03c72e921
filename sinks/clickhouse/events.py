"""The worker's ClickHouse gateway: raw events inserted in batches, one table per family."""

from collections.abc import Mapping, Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.ddl import EVENT_TABLES, INGESTED_AT
from ugc.events import Family

# Every column but ingested_at, which the server fills in at insert time.
COLUMNS: dict[Family, list[str]] = {
    family: [name for name, _ in table.columns if name != INGESTED_AT[0]]
    for family, table in EVENT_TABLES.items()
}


class ClickHouseEventSink:
    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._database = database

    def insert(self, batches: Mapping[Family, Sequence[Mapping[str, Any]]]) -> int:
        """Insert decoded records; a redelivered event collapses with its twin by event_id."""
        inserted = 0
        for family, records in batches.items():
            if not records:
                continue
            columns = COLUMNS[family]
            rows = [[record[name] for name in columns] for record in records]
            table = f"{self._database}.{EVENT_TABLES[family].name}"
            self._client.insert(table, rows, column_names=columns)
            inserted += len(rows)
        return inserted
