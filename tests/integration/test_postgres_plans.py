"""The local FerretDB's PostgreSQL serves every projection write and read from an index.

A throwaway database gets the initer's indexes and 100,000 documents in each collection the
projections use. PostgreSQL's auto_explain (preloaded by the stack, silent until this test
turns it on) then logs the plan of every statement FerretDB runs while the worker's
ProjectionWriter and the read API's ProjectionReads do their work; no plan on those tables may
be a sequential scan. Dropping one of the indexes must bring a scan back, so the check cannot
pass vacuously.
"""

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.init.mongo import init_mongo, is_ferretdb
from infra.stack.manager import Stack
from sinks.mongo import postgres
from sinks.mongo.client import mongo_client
from sinks.mongo.projections import (
    FavouriteChange,
    PositionChange,
    ProjectionWriter,
    RatingChange,
    WatchedTime,
)
from sinks.mongo.reads import ProjectionReads
from ugc.settings import Settings

DOCUMENTS = 100_000
FILMS_PER_VIEWER = 10
CHUNK = 2000
PRELOAD_CONCURRENCY = 4
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLAN_HEADER = re.compile(r"^\S+ \S+ UTC \[\d+\] LOG:  duration: [\d.]+ ms  plan:$")


def _viewer(i: int) -> uuid.UUID:
    return uuid.UUID(int=(i // FILMS_PER_VIEWER) + 1)


def _film(i: int) -> uuid.UUID:
    return uuid.UUID(int=(1 << 64) + (i % FILMS_PER_VIEWER) + 1)


def _documents(collection: str, start: int, stop: int) -> list[dict]:
    docs = []
    for i in range(start, stop):
        user, film = str(_viewer(i)), str(_film(i))
        key = f"{user}:{film}"
        docs.append(
            {
                "progress": {
                    "_id": key,
                    "user_id": user,
                    "movie_id": film,
                    "position_ms": 1000 * (i % 50),
                    "position_at": T0,
                    "position_event_id": str(uuid.UUID(int=i)),
                    "duration_ms": 6_000_000,
                    "watched_seconds": 60,
                    "viewing_offset": i,
                    "finished": i % 7 == 0,
                    "updated_at": T0 + timedelta(seconds=i),
                },
                "favourites": {
                    "_id": key,
                    "user_id": user,
                    "movie_id": film,
                    "active": i % 3 != 0,
                    "changed_at": T0 + timedelta(seconds=i),
                    "event_id": str(uuid.UUID(int=i)),
                },
                "user_ratings": {
                    "_id": key,
                    "user_id": user,
                    "movie_id": film,
                    "score": i % 11,
                    "changed_at": T0,
                    "event_id": str(uuid.UUID(int=i)),
                },
                "film_ratings": {
                    "_id": str(uuid.UUID(int=(2 << 64) + i)),
                    "movie_id": str(uuid.UUID(int=(2 << 64) + i)),
                    "score_sum": i % 100,
                    "score_count": 10,
                    "offset": i,
                    "updated_at": T0,
                },
                "viewing_events_seen": {
                    "_id": str(uuid.UUID(int=(3 << 64) + i)),
                    "offset": i,
                    "at": T0,
                },
            }[collection]
        )
    return docs


@dataclass
class Plans:
    """Plans auto_explain logged for the statements on the test database's tables."""

    entries: list[tuple[str, str]]  # (query text, plan)

    def on(self, table: str) -> list[str]:
        return [plan for query, plan in self.entries if f'"{table}"' in query]

    def scans(self) -> list[str]:
        return [f"{query}\n{plan}" for query, plan in self.entries if "Seq Scan" in plan]


@dataclass
class PlanDb:
    settings: Settings
    tables: dict[str, str]
    log_file: Path

    async def plans_of(self, action: Callable[[], Awaitable[object]]) -> Plans:
        """Run `action` with auto_explain logging every statement's plan; return those on
        this database's schema."""
        schema = f'"{self.settings.mongo_db}".'
        start = self.log_file.stat().st_size
        connection = await postgres.connect(self.settings.mongo_postgres_url)
        try:
            await _set_auto_explain(connection, "0")
            try:
                await action()
            finally:
                await _set_auto_explain(connection, None)
        finally:
            await connection.close()
        with self.log_file.open("rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
        return Plans([entry for entry in _plan_entries(text) if schema in entry[0]])


async def _set_auto_explain(connection, value: str | None) -> None:
    if value is None:
        await connection.execute("ALTER SYSTEM RESET auto_explain.log_min_duration")
    else:
        await connection.execute(f"ALTER SYSTEM SET auto_explain.log_min_duration = {value}")
    await connection.execute("SELECT pg_reload_conf()")
    # The postmaster passes the reload on to every session; each applies it before its next
    # statement. Give the signals a moment to arrive.
    await asyncio.sleep(0.5)


def _plan_entries(text: str) -> list[tuple[str, str]]:
    entries = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not PLAN_HEADER.match(line):
            continue
        body = []
        for following in lines[number + 1 :]:
            if not following.startswith("\t"):
                break
            body.append(following.strip())
        if body and body[0].startswith("Query Text:"):
            entries.append((body[0], "\n".join(body[1:])))
    return entries


@pytest.fixture(scope="module")
async def plan_db(stack: Stack, settings: Settings) -> AsyncIterator[PlanDb]:
    test_settings = settings.model_copy(update={"mongo_db": f"test_plans_{uuid.uuid4().hex[:8]}"})
    client = mongo_client(test_settings, timeout_ms=10_000)
    if not await is_ferretdb(client):
        await client.close()
        pytest.skip("MONGO_URL is a real MongoDB: no PostgreSQL under it")
    database = client[test_settings.mongo_db]
    started = time.monotonic()
    try:
        await init_mongo(test_settings)  # the collections and every index, as `ugc init`
        limit = asyncio.Semaphore(PRELOAD_CONCURRENCY)

        async def preload(collection: str, start: int) -> None:
            docs = _documents(collection, start, start + CHUNK)
            async with limit:
                await database[collection].insert_many(docs, ordered=False)

        await asyncio.gather(
            *(
                preload(collection, start)
                for collection in postgres.COLLECTIONS
                for start in range(0, DOCUMENTS, CHUNK)
            )
        )
        connection = await postgres.connect(test_settings.mongo_postgres_url)
        try:
            tables = await postgres.collection_tables(connection, test_settings.mongo_db)
            for table in tables.values():  # statistics, as autovacuum would have gathered
                await connection.execute(f'ANALYZE "{test_settings.mongo_db}"."{table}"')
        finally:
            await connection.close()
        print(
            f"preloaded {DOCUMENTS} documents x {len(tables)} in {time.monotonic() - started:.1f}s"
        )
        log_file = stack.component("postgres").process.log_file
        yield PlanDb(test_settings, tables, log_file)
    finally:
        await client.drop_database(test_settings.mongo_db)
        await client.close()


async def _writes(settings: Settings) -> None:
    """A batch of each kind of projection write, on existing and on new documents."""
    client = mongo_client(settings)
    writer = ProjectionWriter(client[settings.mongo_db], settings.mongo_write_concurrency)
    now = datetime.now(UTC)
    existing = [(_viewer(i), _film(i)) for i in range(0, DOCUMENTS, DOCUMENTS // 20)]
    fresh = [(uuid.uuid4(), uuid.uuid4()) for _ in range(5)]
    pairs = existing + fresh
    watched = [WatchedTime(u, f, 30, uuid.uuid4(), DOCUMENTS + n) for n, (u, f) in enumerate(pairs)]
    try:
        await writer.apply_viewing(
            [PositionChange(u, f, 5_900_000, 6_000_000, now, uuid.uuid4()) for u, f in pairs]
            + [
                PositionChange(u, f, 1, None, T0 - timedelta(days=1), uuid.uuid4())
                for u, f in pairs
            ],
            watched,
        )
        # Redelivered: the ids are known (a lookup each), the offsets fence the increments.
        await writer.apply_viewing([], watched)
        await writer.apply_favourites(
            [FavouriteChange(u, f, True, now, uuid.uuid4()) for u, f in pairs]
            + [FavouriteChange(u, f, False, T0, uuid.uuid4()) for u, f in pairs]
        )
        await writer.apply_user_ratings(
            [RatingChange(u, f, 7, now, uuid.uuid4()) for u, f in pairs]
        )
        for n in range(10):
            await writer.set_film_rating(uuid.UUID(int=(2 << 64) + n * 1000), 70, 10, DOCUMENTS + n)
            await writer.set_film_rating(uuid.uuid4(), 7, 1, 1)
    finally:
        await client.close()


async def _reads(settings: Settings) -> None:
    """Every query of the read API, for viewers with documents and without."""
    reads = ProjectionReads(settings)
    await reads.start()
    try:
        for i in [*range(0, DOCUMENTS, DOCUMENTS // 10), None]:
            user = _viewer(i) if i is not None else uuid.uuid4()
            film = _film(i) if i is not None else uuid.uuid4()
            await reads.list_favourites(user, 20, 0)
            await reads.get_progress(user, film)
            await reads.continue_watching(user, 20)
            await reads.get_user_rating(user, film)
            await reads.get_film_rating(uuid.UUID(int=(2 << 64) + (i or 0)))
    finally:
        await reads.close()


@pytest.mark.slow
async def test_projection_writes_and_reads_use_indexes(plan_db):
    writes = await plan_db.plans_of(lambda: _writes(plan_db.settings))
    reads = await plan_db.plans_of(lambda: _reads(plan_db.settings))

    for plans in (writes, reads):
        assert plans.scans() == []
    for collection in ("progress", "favourites", "user_ratings", "film_ratings"):
        table = plan_db.tables[collection]
        for plans in (writes, reads):
            assert plans.on(table), f"no statement on {collection} seen"
            assert any("_gin" in plan for plan in plans.on(table)), collection
    assert any("_gin" in plan for plan in writes.on(plan_db.tables["viewing_events_seen"]))
    for plan in writes.entries[:3] + reads.entries[:3]:
        print(plan[0], plan[1], sep="\n")


@pytest.mark.slow
async def test_a_dropped_index_brings_the_scan_back(plan_db):
    by_user = postgres.JsonbIndex("progress", "user_id")
    connection = await postgres.connect(plan_db.settings.mongo_postgres_url)
    try:
        await postgres.drop_index(connection, plan_db.settings.mongo_db, by_user)
        reads = await plan_db.plans_of(lambda: _reads(plan_db.settings))
        assert any(f"Seq Scan on {plan_db.tables['progress']}" in scan for scan in reads.scans())
        created = await postgres.create_missing_indexes(connection, plan_db.settings.mongo_db)
    finally:
        await connection.close()
    assert [label for label, new in created.items() if new] == [by_user.label]
    reads = await plan_db.plans_of(lambda: _reads(plan_db.settings))
    assert reads.scans() == []
