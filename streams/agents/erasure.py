"""The projections worker's erasure steps (streams/erasure.py): progress and favourites per
marker; ratings in ratings-by-film, where each film's total lives.

Ratings. `rekey_ratings` forwards a marker read in ratings partition p to every ratings-by-film
partition, in order with the ratings it forwards, so in each ratings-by-film partition the
marker stands after every rating of the viewer that was in p before it. There it takes the
viewer's current score of each of their films out of the film's total, fenced by the marker's
offset as a rating is (the total first, as in apply_rating: after a crash the replayed marker
finds the total done), and deletes the score: a rating after the erasure, even one with an
older client time, counts as the viewer's first.

The viewer's films come from `user_ratings` (by viewer, indexed), which holds every film whose
rating this partition processed before the marker (a rating is acknowledged only once there).
Their documents are deleted only once Kafka holds the table's changes (streams/tables.py): a
marker replayed after a crash finds the films again, or finds the table already without their
scores.
"""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from faust.types import EventT, TableT

from streams.app import app, ratings_by_film_topic
from streams.erasure import (
    Marker,
    decode_markers,
    films_of,
    header,
    mongo_erasure,
    report,
    settings,
)
from streams.messages import Abandoned, letting_go, until_done
from streams.resources import projections
from streams.tables import DurableTable, changes_durable
from ugc.erasure import MARKER_HEADER, MONGODB, SOURCE_HEADER, part, ratings_source
from ugc.events import Family, topic_name
from ugc.partitions import kafka_partition

T = TypeVar("T")
PLAYBACK = topic_name(settings, Family.PLAYBACK)
PARTITIONS = settings.kafka_partitions


def _mongo(operation: Callable[[], Awaitable[T]]) -> Awaitable[T]:
    return until_done(operation, "mongodb", app)


async def erase_progress(events: list[EventT]) -> None:
    """A playback marker erases the viewer's positions, a viewing marker their watch time."""
    erasure = mongo_erasure()
    for marker in await decode_markers(events, app):
        user = marker.user_id
        films = films_of(marker, await _mongo(partial(erasure.progress_films, user)))
        if marker.topic == PLAYBACK:
            await _mongo(partial(erasure.erase_positions, user, films))
        else:
            await _mongo(partial(erasure.erase_watch_time, user, films, marker.offset))
        await report(app, [(marker, part(MONGODB, marker.topic, marker.partition))])


async def erase_favourites(events: list[EventT]) -> None:
    erasure = mongo_erasure()
    for marker in await decode_markers(events, app):
        user = marker.user_id
        films = films_of(marker, await _mongo(partial(erasure.favourite_films, user)))
        await _mongo(partial(erasure.erase_favourites, user, films))
        await report(app, [(marker, part(MONGODB, marker.topic, marker.partition))])


async def forward_markers(events: list[EventT]) -> None:
    """Ratings markers to every ratings-by-film partition, saying which partition they left."""
    for event in events:
        message = event.message
        headers = [
            (MARKER_HEADER, header(event, MARKER_HEADER) or b""),
            (SOURCE_HEADER, str(message.partition).encode()),
        ]
        for target in range(settings.kafka_partitions):
            send = partial(_send, message.key, message.value, target, headers)
            await until_done(send, "kafka", app)


async def _send(key: bytes | None, value: bytes | None, partition: int, headers: list[Any]) -> None:
    await (
        await ratings_by_film_topic.send(key=key, value=value, partition=partition, headers=headers)
    )


def forget_viewer(table: TableT, marker: Marker, films: list[str]) -> dict[str, dict[str, int]]:
    """Take the viewer's scores of these films out of their totals and forget them; returns
    the totals after, per film. No await: see apply_rating."""
    totals = {}
    for film in films:
        current = table.get(f"score:{film}:{marker.user_id}")
        total = table.get(f"total:{film}") or {"sum": 0, "count": 0, "offset": -1}
        if total["offset"] < marker.offset:
            old = current["score"] if current else None
            total = {
                "sum": total["sum"] - (old or 0),
                "count": total["count"] - (old is not None),
                "offset": marker.offset,
            }
            table[f"total:{film}"] = total  # first
        totals[film] = total
        if current is not None:
            del table[f"score:{film}:{marker.user_id}"]
    return totals


async def erase_film_ratings(table: DurableTable, event: EventT) -> None:
    """A ratings marker in ratings-by-film: the viewer's scores out of the films' totals, out
    of `user_ratings`, and the new totals into `film_ratings`."""
    markers = await decode_markers([event], app)
    marker = markers[0] if markers else None
    if marker is None or marker.source is None:
        return  # undecodable, or not forwarded by rekey_ratings (no source to erase)
    erasure = mongo_erasure()
    rated = await _mongo(partial(erasure.rated_films, marker.user_id))
    # The films of this partition (rekey_ratings keys by film) rated through the marker's source.
    here = [f for f in rated if kafka_partition(f.encode(), PARTITIONS) == marker.partition]
    films = films_of(marker, here)
    if letting_go(app) or event.message.generation_id != app.consumer_generation_id:
        raise Abandoned("a rebalance or shutdown is under way")  # no table write: see above
    totals = forget_viewer(table, marker, films)
    await changes_durable(table, app)  # before the documents go: see the module docstring

    async def write() -> None:
        await erasure.erase_user_ratings(marker.user_id, films)
        for film, total in totals.items():
            await projections.set_film_rating(
                UUID(film), total["sum"], total["count"], total["offset"]
            )

    await _mongo(write)
    source = ratings_source(settings, marker.source)
    await report(app, [(marker, part(MONGODB, marker.topic, marker.partition, source))])
