"""Ratings: each viewer's score -> MongoDB `user_ratings`; each film's sum and count of current
scores -> a changelogged table -> MongoDB `film_ratings` (the average is computed on read).

The ratings topic is keyed by user:movie. `rekey_ratings` copies each rating, unchanged, to a
topic keyed by film, so one worker owns each film's running total. `total_film_ratings` keeps,
in one changelogged table, per film the total and per (film, viewer) the current score:

- a rating older than (or the same as) the viewer's current one changes nothing, so late and
  redelivered ratings are harmless;
- the total remembers the offset of the last rating it included, and it is written to the
  changelog before the viewer's score: after a crash between the two writes the replayed rating
  finds its total already applied and only records the score;
- a rating is acknowledged only once Kafka holds its table changes (streams/tables.py: Faust's
  own flush before a commit does not wait for them).
"""

import asyncio
import logging
from typing import Any, cast

from faust import Stream
from faust.types import EventT, StreamT

from sinks.mongo.projections import RatingChange
from streams.agents.erasure import erase_film_ratings, forward_markers
from streams.app import app, dead_letters, ratings_by_film_topic, ratings_topic, settings
from streams.erasure import is_marker, with_erasures
from streams.messages import (
    Abandoned,
    acknowledge,
    batch_generation,
    consume_batches,
    dead_letter,
    decode_all,
    letting_go,
    until_done,
)
from streams.resources import projections
from streams.tables import DurableTable, changes_durable
from streams.web import watch

log = logging.getLogger(__name__)
ratings_state = DurableTable(
    app,
    name="ratings-state",
    default=None,
    beacon=app.tables.beacon,
    partitions=settings.kafka_partitions,
)
app.tables.add(ratings_state)


async def _forward(events: list[EventT]) -> None:
    for item in await decode_all(events, app):
        message = item.event.message
        movie_key = str(item.record["movie_id"]).encode()

        async def forward(value: bytes | None = message.value, key: bytes = movie_key) -> None:
            await (await ratings_by_film_topic.send(key=key, value=value))

        await until_done(forward, "kafka", app)


@app.agent(ratings_topic)
async def rekey_ratings(stream: StreamT) -> None:
    await consume_batches(
        app,
        stream,
        "ratings_rekey",
        settings.worker_batch_max,
        settings.worker_batch_within_s,
        with_erasures(_forward, forward_markers),
        watch,
    )


def _newer(record: dict[str, Any], current: dict[str, Any] | None) -> bool:
    if current is None:
        return True
    stamp = (int(record["client_ts"].timestamp() * 1000), str(record["event_id"]))
    return stamp > (current["ts"], current["event_id"])


def apply_rating(record: dict[str, Any], offset: int) -> dict[str, int]:
    """Fold one rating into the table; returns the film's total after it."""
    movie, user = str(record["movie_id"]), str(record["user_id"])
    score_key, total_key = f"score:{movie}:{user}", f"total:{movie}"
    current = ratings_state.get(score_key)
    total = ratings_state.get(total_key) or {"sum": 0, "count": 0, "offset": -1}
    if not _newer(record, current):
        return total
    if total["offset"] < offset:
        old = current["score"] if current else None
        new = record["score"]
        total = {
            "sum": total["sum"] + (new or 0) - (old or 0),
            "count": total["count"] + (new is not None) - (old is not None),
            "offset": offset,
        }
        ratings_state[total_key] = total  # first: see the module docstring
    ratings_state[score_key] = {
        "score": record["score"],
        "ts": int(record["client_ts"].timestamp() * 1000),
        "event_id": str(record["event_id"]),
    }
    return total


@app.agent(ratings_by_film_topic)
async def total_film_ratings(stream: StreamT) -> None:
    # One event at a time: table writes go to the changelog partition of the current event.
    # Acknowledged by hand, once the rating is in MongoDB (see streams.messages).
    cast(Stream, stream).enable_acks = False
    async for event in stream.events():
        if await _one_rating(event):
            await acknowledge(stream, [event], "ratings_total", watch)
        del event  # an unacknowledged event must not outlive its turn (see streams.messages)


async def _one_rating(event: EventT) -> bool:
    """Project one rating; False when it was let go unacknowledged (rebalance, shutdown)."""
    batch_generation.set(event.message.generation_id)
    if event.message.generation_id != app.consumer_generation_id or letting_go(app):
        return False  # read again after the rebalance, by whoever owns the film then
    try:
        await _project(event)
    except Abandoned:
        return False
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug must not drop the rating: park it, keep going
        log.exception("cannot process rating %s@%d", event.message.topic, event.message.offset)
        try:
            await dead_letter(
                dead_letters, event, "ProcessingError", f"{type(exc).__name__}: {exc}", app
            )
        except Abandoned:
            return False
    return True


async def _project(event: EventT) -> None:
    if is_marker(event):
        return await erase_film_ratings(ratings_state, event)
    decoded = await decode_all([event], app)
    if not decoded:
        return
    record = decoded[0].record
    if letting_go(app) or event.message.generation_id != app.consumer_generation_id:
        # Checked with no await before the table write: a changelog write happens before a
        # revocation flushes the producer, or not at all (the next owner applies it).
        raise Abandoned("a rebalance or shutdown is under way")
    total = apply_rating(record, event.message.offset)
    change = RatingChange(
        record["user_id"],
        record["movie_id"],
        record["score"],
        record["client_ts"],
        record["event_id"],
    )

    async def write() -> None:
        await projections.apply_user_ratings([change])
        await projections.set_film_rating(
            record["movie_id"], total["sum"], total["count"], total["offset"]
        )

    await until_done(write, "mongodb", app)
    await changes_durable(ratings_state, app)
