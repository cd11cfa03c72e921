"""Every event topic -> ClickHouse raw event tables, in batches (max rows or flush interval)."""

from collections import defaultdict
from functools import partial
from typing import Any

from faust.types import StreamT

from streams.app import all_event_topics, app, settings
from streams.messages import batches, decode_all, until_done
from streams.metrics import EVENTS, SINK_SECONDS
from streams.resources import clickhouse
from ugc.events import Family


@app.agent(all_event_topics)
async def store_raw_events(stream: StreamT) -> None:
    async for events in batches(stream, settings.clickhouse_batch_max, settings.clickhouse_flush_s):
        by_family: dict[Family, list[dict[str, Any]]] = defaultdict(list)
        for item in await decode_all(events, dead_letters=True):
            by_family[item.family].append(item.record)
        with SINK_SECONDS.labels("clickhouse").time():
            await until_done(partial(clickhouse.insert, by_family), "clickhouse")
        for event in events:
            await stream.ack(event)
        EVENTS.labels("clickhouse").inc(len(events))
