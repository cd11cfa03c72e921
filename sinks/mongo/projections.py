"""The worker's MongoDB gateway: idempotent, order-tolerant projection writes.

Every write is safe to repeat and to receive late:
- positions, favourites and user ratings keep the newest change by (client time, event id);
  an older or repeated event matches no document, and its upsert then collides with the
  document's `_id` ("user:movie"), which means "already newer": nothing to do;
- watch time is a sum, so each increment is fenced by the Kafka offset of the viewing event
  that made it. All events of one (user, film) share a partition (the key is user:movie), so
  the offsets only grow and a redelivered event, whose offset is not above the stored one,
  adds nothing. A client retry of an event that did reach Kafka is a second record with the
  same event_id and a new offset: the ids already added are remembered for that
  (`viewing_events_seen`, forgotten after the topic's retention);
- film rating totals are copied from the worker's changelogged table, each with the offset of
  the last rating it includes; an older total never replaces a newer one.
"""

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from sinks.mongo.documents import Favourite, FilmRating, Progress, UserRating, viewer_film_key

VIEWING_SEEN = "viewing_events_seen"
FINISHED_SHARE = 0.95  # a viewer who reached 95% of the film has finished it


@dataclass(frozen=True, slots=True)
class PositionChange:
    user_id: UUID
    movie_id: UUID
    position_ms: int
    duration_ms: int | None
    client_ts: datetime
    event_id: UUID


@dataclass(frozen=True, slots=True)
class WatchedTime:
    user_id: UUID
    movie_id: UUID
    seconds: int
    event_id: UUID
    offset: int


@dataclass(frozen=True, slots=True)
class FavouriteChange:
    user_id: UUID
    movie_id: UUID
    active: bool
    client_ts: datetime
    event_id: UUID


@dataclass(frozen=True, slots=True)
class RatingChange:
    user_id: UUID
    movie_id: UUID
    score: int | None
    client_ts: datetime
    event_id: UUID


@dataclass(frozen=True, slots=True)
class Update:
    filter: dict[str, Any]
    update: dict[str, Any]
    upsert: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def _newer_than(
    field: str, client_ts: datetime, event_id: UUID, id_field: str = "event_id"
) -> dict[str, Any]:
    """Filter: the stored change is older than this one by (client time, event id), or there
    is none yet. The id breaks ties of the same client millisecond the same way everywhere,
    whatever order the events arrive in."""
    return {
        "$or": [
            {field: None},
            {field: {"$lt": client_ts}},
            {field: client_ts, id_field: {"$lt": str(event_id)}},
        ]
    }


def _newest_wins(
    user_id: UUID, movie_id: UUID, client_ts: datetime, event_id: UUID, values: dict[str, Any]
) -> Update:
    """Set `values` on the (user, movie) document unless it holds a newer change already."""
    return Update(
        {
            "_id": viewer_film_key(user_id, movie_id),
            **_newer_than("changed_at", client_ts, event_id),
        },
        {
            "$set": {
                **_ids(user_id, movie_id),
                **values,
                "changed_at": client_ts,
                "event_id": str(event_id),
            }
        },
        upsert=True,
    )


def _ids(user_id: UUID, movie_id: UUID) -> dict[str, str]:
    return {"user_id": str(user_id), "movie_id": str(movie_id)}


def _film_of(change: PositionChange) -> dict[str, str]:
    return {"_id": viewer_film_key(change.user_id, change.movie_id)}


def _stamp(change: PositionChange) -> tuple[datetime, str]:
    return change.client_ts, str(change.event_id)


def _newest_per_film(positions: list[PositionChange]) -> list[PositionChange]:
    """Only the newest position of each (user, film) in a batch can win; the rest are skipped
    here rather than sent to be refused one by one (heartbeats come every few seconds). A
    newest heartbeat without the film's length keeps the length another event of the batch
    carried (the newest such)."""
    newest: dict[tuple[UUID, UUID], PositionChange] = {}
    duration: dict[tuple[UUID, UUID], PositionChange] = {}
    for change in positions:
        key = (change.user_id, change.movie_id)
        if key not in newest or _stamp(change) > _stamp(newest[key]):
            newest[key] = change
        if change.duration_ms and (key not in duration or _stamp(change) > _stamp(duration[key])):
            duration[key] = change
    return [
        change
        if change.duration_ms or key not in duration
        else replace(change, duration_ms=duration[key].duration_ms)
        for key, change in newest.items()
    ]


class ProjectionWriter:
    def __init__(self, database: AsyncDatabase) -> None:
        self._progress = database[Progress.Settings.name]
        self._favourites = database[Favourite.Settings.name]
        self._user_ratings = database[UserRating.Settings.name]
        self._film_ratings = database[FilmRating.Settings.name]
        self._viewing_seen = database[VIEWING_SEEN]

    async def apply_viewing(
        self, positions: list[PositionChange], watched: list[WatchedTime]
    ) -> None:
        ops: list[Update] = []
        for change in _newest_per_film(positions):
            values: dict[str, Any] = {
                **_ids(change.user_id, change.movie_id),
                "position_ms": change.position_ms,
                "position_at": change.client_ts,
                "position_event_id": str(change.event_id),
                "updated_at": _now(),
            }
            if change.duration_ms:
                values["duration_ms"] = change.duration_ms
            ops.append(
                Update(
                    {
                        **_film_of(change),
                        **_newer_than(
                            "position_at", change.client_ts, change.event_id, "position_event_id"
                        ),
                    },
                    {"$set": values, "$setOnInsert": {"watched_seconds": 0, "finished": False}},
                    upsert=True,
                )
            )
        for change in positions:
            if change.duration_ms and change.position_ms >= FINISHED_SHARE * change.duration_ms:
                # Sticky, whatever order the events arrive in.
                ops.append(Update(_film_of(change), {"$set": {"finished": True}}))
        await _bulk_in_order(self._progress, ops)
        for time in watched:
            await self._add_watched(time)

    async def _add_watched(self, time: WatchedTime) -> None:
        if not await self._first_delivery(time):
            return  # a client retry of an event already added
        key = {"_id": viewer_film_key(time.user_id, time.movie_id)}
        fenced = {"$or": [{"viewing_offset": None}, {"viewing_offset": {"$lt": time.offset}}]}
        op = Update(
            {**key, **fenced},
            {
                "$inc": {"watched_seconds": time.seconds},
                "$set": {
                    **_ids(time.user_id, time.movie_id),
                    "viewing_offset": time.offset,
                    "updated_at": _now(),
                },
                "$setOnInsert": {"position_ms": 0, "finished": False},
            },
            upsert=True,
        )
        await _bulk_in_order(self._progress, [op])

    async def _first_delivery(self, time: WatchedTime) -> bool:
        """Remember the event id with its offset before adding: the same id at another offset is
        a client retry (skip); at the same offset it is Kafka redelivering the record after a
        crash, and the offset fence makes the increment happen once."""
        seen = {"_id": str(time.event_id), "offset": time.offset, "at": _now()}
        try:
            await self._viewing_seen.insert_one(seen)
            return True
        except DuplicateKeyError:
            first = await self._viewing_seen.find_one({"_id": seen["_id"]})
            return first is not None and first.get("offset") == time.offset

    async def forget_seen_viewing(self, older_than: datetime) -> int:
        result = await self._viewing_seen.delete_many({"at": {"$lt": older_than}})
        return int(result.deleted_count)

    async def apply_favourites(self, changes: list[FavouriteChange]) -> None:
        ops = [_newest_wins(c.user_id, c.movie_id, c.client_ts, c.event_id, {"active": c.active})
               for c in changes]  # fmt: skip
        await _bulk_in_order(self._favourites, ops)

    async def apply_user_ratings(self, changes: list[RatingChange]) -> None:
        ops = [_newest_wins(c.user_id, c.movie_id, c.client_ts, c.event_id, {"score": c.score})
               for c in changes]  # fmt: skip
        await _bulk_in_order(self._user_ratings, ops)

    async def set_film_rating(
        self, movie_id: UUID, score_sum: int, score_count: int, offset: int
    ) -> None:
        """Copy the film's total as of the rating at `offset` (of its ratings-by-film
        partition); an older total, from a worker that lost the film in a rebalance while its
        write was in flight, never replaces a newer one."""
        # DuplicateKeyError: the stored total is newer; its `_id` refused the upsert.
        with suppress(DuplicateKeyError):
            await self._film_ratings.update_one(
                {
                    "_id": str(movie_id),
                    "$or": [{"offset": None}, {"offset": {"$lte": offset}}],
                },
                {
                    "$set": {
                        "movie_id": str(movie_id),
                        "score_sum": score_sum,
                        "score_count": score_count,
                        "offset": offset,
                        "updated_at": _now(),
                    }
                },
                upsert=True,
            )


async def _bulk_in_order(collection: AsyncCollection, ops: list[Update]) -> None:
    """Apply the updates one by one, in order. (One by one because FerretDB 1.24 misreports the
    failing index of an ordered bulk update and drops its counts.)

    An upsert is tried as an insert first: FerretDB 1.24 on SQLite inserts in constant time (its
    `_id` index refuses a duplicate), but an update, or a find that misses, scans the whole
    collection. A first write of a key thus costs what it costs on an empty collection; when
    the document exists the insert fails and the conditional update decides as usual.
    """
    for op in ops:
        if op.upsert:
            try:
                await collection.insert_one(_inserted_document(op))
                continue
            except DuplicateKeyError:
                pass
        try:
            await collection.update_one(op.filter, op.update, upsert=op.upsert)
        except DuplicateKeyError:
            continue  # the stored document is newer: its `_id` refused the upsert


def _inserted_document(op: Update) -> dict[str, Any]:
    """The document an upsert would create, for the operators the projections use."""
    update = op.update
    unsupported = set(update) - {"$set", "$setOnInsert", "$inc"}
    if unsupported:
        raise ValueError(f"cannot insert in place of {sorted(unsupported)}")
    return {
        "_id": op.filter["_id"],
        **update.get("$setOnInsert", {}),
        **update.get("$inc", {}),
        **update.get("$set", {}),
    }
