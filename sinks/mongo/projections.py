"""The worker's MongoDB gateway: idempotent, order-tolerant projection writes.

Every write is safe to repeat and to receive late:
- positions, favourites and user ratings keep the newest change by (client time, event id);
  an older or repeated event matches no document, and its upsert then collides with the
  document's `_id` ("user:movie"), which means "already newer" once the same update, sent
  again without upsert, matches nothing either: nothing to do;
- watch time is a sum, so each increment is fenced by the Kafka offset of the viewing event
  that made it. All events of one (user, film) share a partition (the key is user:movie), so
  the offsets only grow and a redelivered event, whose offset is not above the stored one,
  adds nothing. A client retry of an event that did reach Kafka is a second record with the
  same event_id and a new offset: the ids already added are remembered for that
  (`viewing_events_seen`, forgotten after the topic's retention);
- film rating totals are copied from the worker's changelogged table, each with the offset of
  the last rating it includes; an older total never replaces a newer one.

How a batch is written. The store (FerretDB locally) applies an update as a read-modify-write
of the whole document, so two updates of one document must never be in flight together (in
another process, at a partition's handover, the version check of sinks/mongo/conflicts.py
refuses the loser, which is sent again): a batch becomes one chain of updates per document, in
the batch's order, and the chains run concurrently, at most `write_concurrency` updates in
flight in the process (FerretDB 1.24 holds PostgreSQL connections per update until its command
ends; a pool used up freezes it). Chains of documents this process wrote recently go several to
a command, as plain updates (sinks/mongo/batches.py says when that is safe); the others, and a
command whose reply does not show every update matched, are sent one update per command, as
upserts. What can be decided in the batch is decided there: only the newest position,
favourite or rating of a document is sent, with the film's length from whichever event of the
batch carried it. A failed batch returns only once none of its writes is in flight any more,
so its retry never races its own leftovers.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from sinks.mongo import batches, conflicts
from sinks.mongo.documents import Favourite, FilmRating, Progress, UserRating, viewer_film_key

VIEWING_SEEN = "viewing_events_seen"
C = TypeVar("C")
T = TypeVar("T")
log = logging.getLogger(__name__)
FINISHED_SHARE = 0.95  # a viewer who reached 95% of the film has finished it
KNOWN_DOCUMENTS = 200_000  # ids remembered as existing, per process (some 20 MB)


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


def _newest_per_key(
    changes: Iterable[C], key: Callable[[C], Hashable], stamp: Callable[[C], Any]
) -> dict[Any, C]:
    """The newest change of each key (by `stamp`), keys in the order they first appear."""
    newest: dict[Any, C] = {}
    for change in changes:
        k = key(change)
        if k not in newest or stamp(change) > stamp(newest[k]):
            newest[k] = change
    return newest


def _newest_per_film(positions: list[PositionChange]) -> list[PositionChange]:
    """Only the newest position of each (user, film) in a batch can win; the rest are skipped
    here rather than sent to be refused one by one (heartbeats come every few seconds). A
    newest heartbeat without the film's length keeps the length another event of the batch
    carried (the newest such)."""
    lengths = _lengths(positions)
    return [
        change
        if change.duration_ms or key not in lengths
        else replace(change, duration_ms=lengths[key])
        for key, change in _newest_per_key(positions, _pair, _stamp_of).items()
    ]


def _finished_films(positions: list[PositionChange]) -> list[tuple[UUID, UUID]]:
    """The (user, film) pairs of the batch with a position at 95% of the film's length, the
    length carried by that event or by another event of the batch for the same film."""
    lengths = _lengths(positions)
    reached = []
    for change in positions:
        key = _pair(change)
        length = change.duration_ms or lengths.get(key)
        if length and change.position_ms >= FINISHED_SHARE * length and key not in reached:
            reached.append(key)
    return reached


def _lengths(positions: list[PositionChange]) -> dict[tuple[UUID, UUID], int]:
    """The film's length per (user, film), from the newest event of the batch carrying one."""
    carrying = _newest_per_key([c for c in positions if c.duration_ms], _pair, _stamp_of)
    return {key: change.duration_ms for key, change in carrying.items() if change.duration_ms}


class ProjectionWriter:
    def __init__(
        self, database: AsyncDatabase, write_concurrency: int = 8, updates_per_command: int = 4
    ) -> None:
        self._progress = database[Progress.Settings.name]
        self._favourites = database[Favourite.Settings.name]
        self._user_ratings = database[UserRating.Settings.name]
        self._film_ratings = database[FilmRating.Settings.name]
        self._viewing_seen = database[VIEWING_SEEN]
        # Shared by every agent of the process: at most this many updates in flight in all.
        self._limit = batches.StatementLimit(write_concurrency)
        self._per_command = max(1, min(updates_per_command, write_concurrency))
        self._known = batches.KnownDocuments(KNOWN_DOCUMENTS)

    async def apply_viewing(
        self, positions: list[PositionChange], watched: list[WatchedTime]
    ) -> None:
        chains: dict[str, list[Update]] = {}
        for change in _newest_per_film(positions):
            chains.setdefault(_key_of(change), []).append(_position_update(change))
        for user_id, movie_id in _finished_films(positions):
            # Sticky, whatever order the events arrive in.
            key = viewer_film_key(user_id, movie_id)
            chains.setdefault(key, []).append(Update({"_id": key}, {"$set": {"finished": True}}))
        for time in await self._first_deliveries(watched):
            chains.setdefault(_key_of(time), []).append(_watched_update(time))
        await self._run_chains(self._progress, chains.values())

    async def _first_deliveries(self, watched: list[WatchedTime]) -> list[WatchedTime]:
        """The viewing events to add: each event id is remembered with its offset before its
        time is added. The same id at another offset is a client retry (skipped); at the same
        offset it is Kafka redelivering the record after a crash, and the offset fence makes
        the increment happen once. One insert for the batch; a lookup per id seen before."""
        if not watched:
            return []
        now = _now()
        seen = [{"_id": str(t.event_id), "offset": t.offset, "at": now} for t in watched]
        try:
            await self._viewing_seen.insert_many(seen, ordered=False)
            return watched
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            known = {int(error["index"]) for error in errors}

        async def first(time: WatchedTime) -> bool:
            async with self._limit.hold():
                stored = await self._viewing_seen.find_one({"_id": str(time.event_id)})
            return stored is not None and stored.get("offset") == time.offset

        again = [watched[index] for index in sorted(known)]
        verdicts = dict(zip(sorted(known), await _all_of([first(t) for t in again]), strict=True))
        return [t for index, t in enumerate(watched) if verdicts.get(index, True)]

    async def forget_seen_viewing(self, older_than: datetime) -> int:
        result = await self._viewing_seen.delete_many({"at": {"$lt": older_than}})
        return int(result.deleted_count)

    async def apply_favourites(self, changes: list[FavouriteChange]) -> None:
        newest = _newest_per_key(changes, _pair, _stamp_of).values()
        ops = [_newest_wins(c.user_id, c.movie_id, c.client_ts, c.event_id, {"active": c.active})
               for c in newest]  # fmt: skip
        await self._run_chains(self._favourites, ([op] for op in ops))

    async def apply_user_ratings(self, changes: list[RatingChange]) -> None:
        newest = _newest_per_key(changes, _pair, _stamp_of).values()
        ops = [_newest_wins(c.user_id, c.movie_id, c.client_ts, c.event_id, {"score": c.score})
               for c in newest]  # fmt: skip
        await self._run_chains(self._user_ratings, ([op] for op in ops))

    async def set_film_rating(
        self, movie_id: UUID, score_sum: int, score_count: int, offset: int
    ) -> None:
        """Copy the film's total as of the rating at `offset` (of its ratings-by-film
        partition); an older total, from a worker that lost the film in a rebalance while its
        write was in flight, never replaces a newer one."""
        op = Update(
            {"_id": str(movie_id), "$or": [{"offset": None}, {"offset": {"$lte": offset}}]},
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
        async with self._limit.hold():
            await _apply_in_order(self._film_ratings, [op])

    async def _run_chains(
        self, collection: AsyncCollection, chains: Iterable[list[Update]]
    ) -> None:
        """Each chain in order, the chains concurrently (bounded): those of documents known to
        exist several to a command, the others one update per command."""
        alone: list[list[Update]] = []
        together: list[list[Update]] = []
        for chain in chains:
            if chain:
                known = self._per_command > 1 and self._key(collection, chain) in self._known
                (together if known else alone).append(chain)
        writes: list[Awaitable[None]] = [self._run_alone(collection, c) for c in alone]
        writes += [self._run_together(collection, group) for group in self._commands(together)]
        await _all_of(writes)

    async def _run_alone(self, collection: AsyncCollection, chain: list[Update]) -> None:
        async with self._limit.hold():
            await _apply_in_order(collection, chain)
        if chain[0].upsert:  # it exists now, whatever the filter decided
            self._known.add(self._key(collection, chain))

    async def _run_together(self, collection: AsyncCollection, group: list[list[Update]]) -> None:
        statements = [(op.filter, conflicts.versioned(op.update)) for c in group for op in c]
        ids = [chain[0].filter["_id"] for chain in group]
        async with self._limit.hold(len(statements)), _documents.hold_all(collection.name, ids):
            if await batches.all_matched(collection, statements):
                return
            # Some update did not apply, or which did is unknown: each decides on its own.
            await _all_of([_apply_each(collection, chain) for chain in group])

    def _commands(self, chains: list[list[Update]]) -> list[list[list[Update]]]:
        """Whole chains packed into commands of at most `updates_per_command` updates."""
        commands: list[list[list[Update]]] = []
        size = 0
        for chain in chains:
            if not commands or size + len(chain) > self._per_command:
                commands.append([])
                size = 0
            commands[-1].append(chain)
            size += len(chain)
        return commands

    @staticmethod
    def _key(collection: AsyncCollection, chain: list[Update]) -> tuple[str, str]:
        return collection.name, str(chain[0].filter["_id"])


DUPLICATE_KEY = 11000


def _key_of(change: PositionChange | WatchedTime) -> str:
    return viewer_film_key(change.user_id, change.movie_id)


def _pair(change: PositionChange | FavouriteChange | RatingChange) -> tuple[UUID, UUID]:
    return change.user_id, change.movie_id


def _stamp_of(change: PositionChange | FavouriteChange | RatingChange) -> tuple[datetime, str]:
    """The order of changes: client time, ties broken by event id."""
    return change.client_ts, str(change.event_id)


def _position_update(change: PositionChange) -> Update:
    values: dict[str, Any] = {
        **_ids(change.user_id, change.movie_id),
        "position_ms": change.position_ms,
        "position_at": change.client_ts,
        "position_event_id": str(change.event_id),
        "updated_at": _now(),
    }
    if change.duration_ms:
        values["duration_ms"] = change.duration_ms
    return Update(
        {
            **_film_of(change),
            **_newer_than("position_at", change.client_ts, change.event_id, "position_event_id"),
        },
        {"$set": values, "$setOnInsert": {"watched_seconds": 0, "finished": False}},
        upsert=True,
    )


def _watched_update(time: WatchedTime) -> Update:
    """Add the time unless the document already holds this offset's (or a later one's)."""
    return Update(
        {
            "_id": _key_of(time),
            "$or": [{"viewing_offset": None}, {"viewing_offset": {"$lt": time.offset}}],
        },
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


async def _all_of(coroutines: list[Awaitable[T]]) -> list[T]:
    """Await them all, even when one fails, then raise the first failure: nothing is left in
    flight when this returns (a retry must not race a write still running)."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)


class _DocumentLocks:
    """One writer per document in this process. FerretDB 1.24 applies an update by reading the
    document, then writing it whole, with nothing in between: two updates of one document at
    once keep only one of them. Across processes the version check of sinks/mongo/conflicts.py
    catches that and sends the loser again; within a process this lock avoids the collision."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._holders: Counter[tuple[str, str]] = Counter()

    @asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] += 1
        try:
            if lock.locked():
                log.warning("two writes of %s/%s at once: the second waits", *key)
            async with lock:
                yield
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key], self._locks[key]

    @asynccontextmanager
    async def hold_all(self, collection: str, ids: Iterable[Any]) -> AsyncIterator[None]:
        """Several documents' locks, taken in one order everywhere (no two holders wait on
        each other)."""
        async with AsyncExitStack() as stack:
            for key in sorted({(collection, str(i)) for i in ids}):
                await stack.enter_async_context(self.hold(key))
            yield


_documents = _DocumentLocks()


async def _apply_in_order(collection: AsyncCollection, ops: list[Update]) -> None:
    """Apply the updates of one document one by one, in order, each its own command; never
    while this process writes the same document on another path."""
    if ops:
        async with _documents.hold((collection.name, str(ops[0].filter["_id"]))):
            await _apply_each(collection, ops)


async def _apply_each(collection: AsyncCollection, ops: list[Update]) -> None:
    for op in ops:
        # A refused one (the stored document is newer) is simply not applied.
        await conflicts.update_one(collection, op.filter, op.update, upsert=op.upsert)
