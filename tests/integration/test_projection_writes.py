"""The worker's projection writer on the real FerretDB: concurrent batches, exact results.

Each batch is written as concurrent per-document chains; these check that the guarantees at
the top of sinks/mongo/projections.py survive it: the newest change wins (ties by event id),
the film's length from another event of the batch is kept, `finished` sticks, watch time counts
each viewing event once (redelivered batches, client retries), and the order of one document's
updates within a batch is kept.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from infra.init.mongo import init_mongo
from sinks.mongo import conflicts
from sinks.mongo.client import mongo_client
from sinks.mongo.documents import viewer_film_key
from sinks.mongo.projections import (
    FavouriteChange,
    PositionChange,
    ProjectionWriter,
    RatingChange,
    WatchedTime,
)
from ugc.settings import Settings

T0 = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
FILMS = 40  # more documents than writes in flight, so chains really run side by side


@pytest.fixture(scope="module")
async def database(stack, settings: Settings) -> AsyncIterator[AsyncDatabase]:
    test_settings = settings.model_copy(update={"mongo_db": f"test_writes_{uuid.uuid4().hex[:8]}"})
    await init_mongo(test_settings)
    client = mongo_client(test_settings)
    yield client[test_settings.mongo_db]
    await client.drop_database(test_settings.mongo_db)
    await client.close()


@pytest.fixture
def writer(database, settings) -> ProjectionWriter:
    return ProjectionWriter(
        database, settings.mongo_write_concurrency, settings.mongo_updates_per_command
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_a_viewing_batch_lands_exactly_once_whatever_its_order(database, writer):
    user = uuid.uuid4()
    films = [uuid.uuid4() for _ in range(FILMS)]
    positions, watched = [], []
    offset = 1000
    for film in films:
        # A play with the film's length, later heartbeats without it, one arriving late.
        positions += [
            PositionChange(user, film, 0, 6_000_000, at(0), uuid.uuid4()),
            PositionChange(user, film, 5_800_000, None, at(30), uuid.uuid4()),
            PositionChange(user, film, 10_000, None, at(10), uuid.uuid4()),
        ]
        for _ in range(3):
            offset += 1
            watched.append(WatchedTime(user, film, 20, uuid.uuid4(), offset))

    await writer.apply_viewing(positions, watched)
    await writer.apply_viewing(positions, watched)  # redelivered after a crash
    retried = [WatchedTime(t.user_id, t.movie_id, t.seconds, t.event_id, t.offset + 10_000)
               for t in watched[:3]]  # fmt: skip
    await writer.apply_viewing([], retried)  # the client sent the first film's events again

    for film in films:
        doc = await database["progress"].find_one({"_id": viewer_film_key(user, film)})
        assert doc is not None
        assert doc["position_ms"] == 5_800_000
        assert doc["duration_ms"] == 6_000_000
        assert doc["finished"] is True
        assert doc["watched_seconds"] == 60


async def test_later_batches_only_move_forward(database, writer):
    user, film = uuid.uuid4(), uuid.uuid4()
    key = {"_id": viewer_film_key(user, film)}
    low, high = sorted((uuid.uuid4(), uuid.uuid4()), key=str)
    await writer.apply_viewing([PositionChange(user, film, 7, None, at(100), high)], [])
    await writer.apply_viewing([PositionChange(user, film, 3, None, at(100), low)], [])  # tie
    await writer.apply_viewing([PositionChange(user, film, 1, None, at(50), uuid.uuid4())], [])
    doc = await database["progress"].find_one(key)
    assert (doc["position_ms"], doc["finished"], doc["watched_seconds"]) == (7, False, 0)


async def test_favourites_and_ratings_keep_the_newest_change_of_a_batch(database, writer):
    user = uuid.uuid4()
    films = [uuid.uuid4() for _ in range(FILMS)]
    favourites, ratings = [], []
    for film in films:
        favourites += [
            FavouriteChange(user, film, False, at(20), uuid.uuid4()),
            FavouriteChange(user, film, True, at(10), uuid.uuid4()),
        ]
        ratings += [
            RatingChange(user, film, 9, at(5), uuid.uuid4()),
            RatingChange(user, film, 4, at(15), uuid.uuid4()),
        ]
    await writer.apply_favourites(favourites)
    await writer.apply_favourites(favourites[1::2])  # an older change, redelivered alone
    await writer.apply_user_ratings(ratings)
    for film in films:
        key = {"_id": viewer_film_key(user, film)}
        assert (await database["favourites"].find_one(key))["active"] is False
        assert (await database["user_ratings"].find_one(key))["score"] == 4


async def test_film_totals_never_go_back(database, writer):
    film = uuid.uuid4()
    await writer.set_film_rating(film, 30, 4, offset=12)
    await writer.set_film_rating(film, 10, 2, offset=7)  # from a worker that lost the film
    doc = await database["film_ratings"].find_one({"_id": str(film)})
    assert (doc["score_sum"], doc["score_count"], doc["offset"]) == (30, 4, 12)


async def test_writes_of_one_document_on_two_paths_at_once_lose_nothing(database, writer):
    # FerretDB 1.24 updates a document by reading it, then writing it whole: two updates of one
    # document at once keep only one of them (measured: 174 of 300 increments from two clients).
    # The writer lets one path of a process write a document at a time.
    user, film = uuid.uuid4(), uuid.uuid4()
    progress = database["progress"]

    async def watch() -> None:
        for offset in range(40):
            await writer.apply_viewing([], [WatchedTime(user, film, 1, uuid.uuid4(), offset)])

    positions = [PositionChange(user, film, s * 1000, None, at(s), uuid.uuid4()) for s in range(40)]

    async def heartbeats() -> None:
        for change in positions:
            await writer.apply_viewing([change], [])

    await asyncio.gather(watch(), heartbeats())
    stored = await progress.find_one({"_id": viewer_film_key(user, film)})
    assert stored is not None
    assert stored["watched_seconds"] == 40 and stored["position_ms"] == 39_000, stored


def _commands(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "ugc_mongo_update_commands_total", {"collection": "progress", "outcome": outcome}
    )
    return value or 0.0


async def test_known_documents_are_updated_together_and_a_refusal_is_decided_alone(
    database, writer
):
    # The first batch creates the documents one update per command; the next ones update them
    # several to a command. A command holding a late heartbeat (its filter refuses it) does
    # not show every update matched: its updates are sent again one by one, and still only
    # the late one is refused.
    user = uuid.uuid4()
    films = [uuid.uuid4() for _ in range(FILMS)]
    late = set(films[::7])
    await writer.apply_viewing(
        [PositionChange(user, f, 1, 9_000, at(10), uuid.uuid4()) for f in films], []
    )
    applied, alone = _commands("applied"), _commands("sent alone")
    await writer.apply_viewing(
        [PositionChange(user, f, 2, None, at(20), uuid.uuid4()) for f in films if f not in late],
        [],
    )
    assert _commands("applied") > applied and _commands("sent alone") == alone
    applied = _commands("applied")
    await writer.apply_viewing(
        [PositionChange(user, f, 3, None, at(5 if f in late else 30), uuid.uuid4()) for f in films],
        [WatchedTime(user, f, 7, uuid.uuid4(), 1) for f in films],
    )
    assert _commands("applied") >= applied and _commands("sent alone") > alone
    for film in films:
        doc = await database["progress"].find_one({"_id": viewer_film_key(user, film)})
        assert doc is not None
        expected = (1, 10) if film in late else (3, 30)
        assert (doc["position_ms"], doc["position_at"].second) == expected, doc
        assert (doc["duration_ms"], doc["watched_seconds"]) == (9_000, 7), doc


async def test_a_document_erased_since_this_worker_wrote_it_is_written_again(database, writer):
    user, film = uuid.uuid4(), uuid.uuid4()
    key = {"_id": viewer_film_key(user, film)}
    await writer.apply_viewing([PositionChange(user, film, 1, None, at(1), uuid.uuid4())], [])
    await database["progress"].delete_one(key)  # erased meanwhile, by another process
    alone = _commands("sent alone")
    await writer.apply_viewing([PositionChange(user, film, 2, None, at(2), uuid.uuid4())], [])
    doc = await database["progress"].find_one(key)
    assert doc is not None and doc["position_ms"] == 2, doc
    assert _commands("sent alone") > alone  # the plain update matched nothing: sent as upsert


@asynccontextmanager
async def two_processes(
    database: AsyncDatabase, settings: Settings, collection: str
) -> AsyncIterator[list[AsyncCollection]]:
    """The collection through two clients of their own: two worker processes, which the
    per-process lock of the writer cannot order."""
    clients = [mongo_client(settings), mongo_client(settings)]
    try:
        yield [client[database.name][collection] for client in clients]
    finally:
        for client in clients:
            await client.close()


async def test_two_writers_of_one_document_in_two_processes_lose_no_update(database, settings):
    # Two worker processes meeting on a document while its partition changes hands: the
    # version guard orders them.
    key = f"two-writers-{uuid.uuid4()}"
    conflicts_before = _write_conflicts("progress")

    async def increments(collection) -> None:
        for _ in range(150):
            await conflicts.update_one(collection, {"_id": key}, {"$inc": {"n": 1}}, upsert=True)

    async with two_processes(database, settings, "progress") as progress:
        await asyncio.gather(*(increments(collection) for collection in progress))
    stored = await database["progress"].find_one({"_id": key})
    assert stored is not None and stored["n"] == 300, stored
    assert stored[conflicts.VERSION] == 300
    # The two really met (each meeting is one refused write, sent again).
    assert _write_conflicts("progress") > conflicts_before


async def test_without_the_guard_two_writers_lose_updates(database, settings):
    # What the guard prevents, on the same store: a collection without it keeps only some.
    key = f"unguarded-{uuid.uuid4()}"
    await database["unguarded"].insert_one({"_id": key, "n": 0})

    async def increments(collection) -> None:
        for _ in range(150):
            await collection.update_one({"_id": key}, {"$inc": {"n": 1}})

    async with two_processes(database, settings, "unguarded") as unguarded:
        await asyncio.gather(*(increments(collection) for collection in unguarded))
    stored = await database["unguarded"].find_one({"_id": key})
    assert stored is not None and stored["n"] < 300, stored


async def test_two_writers_creating_one_document_both_count(database, settings):
    # Both upsert a document that does not exist yet: the second insert collides with the
    # first one's `_id`, which must not pass for "the stored document is newer".
    keys = [f"created-twice-{uuid.uuid4()}" for _ in range(FILMS)]

    async def create(collection, key) -> None:
        await conflicts.update_one(collection, {"_id": key}, {"$inc": {"n": 1}}, upsert=True)

    async with two_processes(database, settings, "progress") as progress:
        await asyncio.gather(*(create(c, key) for key in keys for c in progress))
    stored = await database["progress"].find({"_id": {"$in": keys}}).to_list(None)
    assert sorted(doc["n"] for doc in stored) == [2] * FILMS


def _write_conflicts(collection: str) -> float:
    sample = REGISTRY.get_sample_value(
        "ugc_mongo_write_conflicts_total", {"collection": collection}
    )
    return sample or 0.0
