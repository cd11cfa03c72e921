"""Erasure markers in the workers' streams (ugc/erasure.py), shared by both applications.

A marker sits in a partition among the viewer's events. An agent handles a batch as runs, in
the order of the batch: events up to a marker are applied first, then the marker erases what
they (and all before them) left of the viewer in that partition's share of the store, then the
events after it are applied. A batch is acknowledged as a whole, as always: one let go (a
rebalance) comes again, markers included, and every erasure step is safe to repeat. A marker
replayed after a crash erases again what the replayed events before it rebuilt, and the events
after it are replayed too, so what it leaves is what it left the first time.

Each erasure step reports its part to the erasure request in MongoDB once done.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any
from uuid import UUID

import faust
from faust.types import EventT

from schemas.erasure import ErasureCodec
from sinks.mongo.client import mongo_client
from sinks.mongo.erasure import ProjectionErasure
from streams.messages import (
    BatchHandler,
    dead_letter,
    decode_waiting_for_registry,
    until_done,
)
from ugc.erasure import MARKER_HEADER, SOURCE_HEADER
from ugc.partitions import viewer_film_partition
from ugc.settings import get_settings

log = logging.getLogger(__name__)
settings = get_settings()
CODEC = ErasureCodec(settings)


@dataclass(frozen=True, slots=True)
class Marker:
    erasure_id: str
    user_id: UUID
    topic: str
    partition: int
    offset: int
    source: int | None  # forwarded to ratings-by-film: the ratings partition it was read from


def header(event: EventT, name: str) -> bytes | None:
    headers = event.message.headers or []
    if isinstance(headers, Mapping):
        return headers.get(name)
    return next((value for key, value in headers if key == name), None)


def is_marker(event: EventT) -> bool:
    return header(event, MARKER_HEADER) is not None


def with_erasures(
    handle: BatchHandler, erase: Callable[[list[EventT]], Awaitable[None]]
) -> BatchHandler:
    """A batch handler that applies runs of events with `handle` and runs of markers with
    `erase`, in the batch's order (which keeps each partition's order)."""

    async def in_order(events: list[EventT]) -> None:
        run: list[EventT] = []
        for event in events:
            if run and is_marker(run[-1]) != is_marker(event):
                await (erase if is_marker(run[-1]) else handle)(run)
                run = []
            run.append(event)
        if run:
            await (erase if is_marker(run[-1]) else handle)(run)

    return in_order


async def decode_markers(
    events: Sequence[EventT], app: faust.App, dead_letters: faust.TopicT | None = None
) -> list[Marker]:
    """The markers that decode (the rest parked in `dead_letters` when given, else skipped)."""
    markers = []
    for event in events:
        message = event.message
        try:
            record = await _decode(message.value)
            source = header(event, SOURCE_HEADER)
            markers.append(
                Marker(
                    str(record["event_id"]),
                    UUID(str(record["user_id"])),
                    message.topic,
                    message.partition,
                    message.offset,
                    int(source) if source is not None else None,
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            where = f"{message.topic}[{message.partition}]@{message.offset}"
            log.warning("erasure marker %s does not decode: %s", where, exc)
            if dead_letters is not None:
                await dead_letter(dead_letters, event, type(exc).__name__, str(exc), app)
    return markers


async def _decode(value: bytes | None) -> dict[str, Any]:
    if not value:
        raise ValueError("empty marker")
    return await decode_waiting_for_registry(CODEC, value)


def films_of(marker: Marker, films: Iterable[str | UUID]) -> list[str]:
    """The films whose events of this viewer were keyed into the marker's partition (the
    marker's source partition, for a ratings marker forwarded to ratings-by-film)."""
    partition = marker.partition if marker.source is None else marker.source
    return [
        str(film)
        for film in films
        if viewer_film_partition(marker.user_id, film, settings.kafka_partitions) == partition
    ]


@cache
def mongo_erasure() -> ProjectionErasure:
    """This process's MongoDB gateway of erasures, opened on first use (the raw-events worker
    needs it only to report)."""
    return ProjectionErasure(mongo_client(settings)[settings.mongo_db])


async def report(app: faust.App, parts: Iterable[tuple[Marker, str]]) -> None:
    """Record each (marker, part) as done, once per erasure."""
    by_erasure: dict[str, list[str]] = {}
    for marker, name in parts:
        by_erasure.setdefault(marker.erasure_id, []).append(name)
    for erasure_id, names in by_erasure.items():
        await until_done(partial(mongo_erasure().report, erasure_id, names), "mongodb", app)
        log.info("erasure %s: %s done", erasure_id, ", ".join(names))
