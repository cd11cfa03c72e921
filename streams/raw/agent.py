"""Every event topic -> ClickHouse raw event tables, in batches (max rows or flush interval).
This agent reads every topic, so it is the one that parks poison in the dead-letter topic."""

from collections import defaultdict
from functools import partial
from typing import Any

from faust.types import EventT, StreamT

from streams.erasure import with_erasures
from streams.messages import consume_batches, decode_all, until_done
from streams.metrics import SINK_SECONDS
from streams.raw.clickhouse import clickhouse
from streams.raw.erasure import erase_raw_events
from streams.raw.web import watch
from streams.raw_app import all_event_topics, app, dead_letters, settings
from ugc.events import Family


async def _store(events: list[EventT]) -> None:
    by_family: dict[Family, list[dict[str, Any]]] = defaultdict(list)
    for item in await decode_all(events, app, dead_letters):
        by_family[item.family].append(item.record)
    with SINK_SECONDS.labels("clickhouse").time():
        await until_done(partial(clickhouse.insert, by_family), "clickhouse", app)


@app.agent(all_event_topics)
async def store_raw_events(stream: StreamT) -> None:
    await consume_batches(
        app,
        stream,
        "clickhouse",
        settings.clickhouse_batch_max,
        settings.clickhouse_flush_s,
        with_erasures(_store, erase_raw_events),
        watch,
    )
