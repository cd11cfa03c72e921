"""The raw-events worker's ClickHouse connection, shared by its sink and its analytics views."""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.analytics import Analytics
from sinks.clickhouse.client import open_clickhouse
from sinks.clickhouse.ddl import ddl_statements
from sinks.clickhouse.events import ClickHouseEventSink
from streams.raw_app import settings
from ugc.events import Family

T = TypeVar("T")


class ClickHouse:
    """The worker owns the chDB folder (one process may open it), so the raw-event sink and the
    analytics views share one client; calls run in a thread, one at a time."""

    def __init__(self) -> None:
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    def _open(self) -> Client:
        if self._client is None:
            client = open_clickhouse(settings)
            if not settings.clickhouse_cluster:  # a cluster's tables come from `ugc init`
                for statement in ddl_statements(settings.clickhouse_db):
                    client.command(statement)
            self._client = client
        return self._client

    async def run(self, work: Callable[[Client], T]) -> T:
        async with self._lock:
            call = asyncio.ensure_future(asyncio.to_thread(lambda: work(self._open())))
            try:
                return await asyncio.shield(call)
            except asyncio.CancelledError:
                # A thread cannot be stopped: keep the client to it until it returns.
                await asyncio.wait({call})
                raise

    async def insert(self, batches: Mapping[Family, Sequence[Mapping[str, Any]]]) -> int:
        return await self.run(
            lambda c: ClickHouseEventSink(c, settings.clickhouse_db).insert(batches)
        )

    async def analytics(self, query: Callable[[Analytics], T]) -> T:
        return await self.run(lambda c: query(Analytics(c, settings.clickhouse_db)))


clickhouse = ClickHouse()
