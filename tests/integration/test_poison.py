"""Poison of several kinds among valid events, on the same partitions: every poison message is
parked in the dead-letter topic with its reason, and every valid event around it lands in
MongoDB and ClickHouse (none skipped, none blocked)."""

import asyncio
import struct
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.codec import EventEncoder
from sinks.mongo.client import mongo_client
from tests.worker_support import eventually
from ugc.events import DEAD_LETTER, Family, topic_name

pytestmark = pytest.mark.slow

YEAR_0_MS = -62_200_000_000_000  # before 0001-01-01: Python's datetime cannot hold it


def _record(user: uuid.UUID, film: uuid.UUID, **payload: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "event_id": str(uuid.uuid4()),
        "user_id": str(user),
        "movie_id": str(film),
        "client_ts": now,
        "server_ts": now,
        **payload,
    }


async def test_poison_is_parked_and_every_valid_event_around_it_lands(pipeline, settings):
    encoder = EventEncoder(settings)
    user = uuid.uuid4()
    films = [uuid.uuid4() for _ in range(6)]
    favourites_id = await encoder.schema_id(Family.FAVOURITES)
    valid_framing = struct.pack(">bI", 0, favourites_id)
    poison: dict[str, tuple[Family, bytes]] = {
        "not avro": (Family.FAVOURITES, b"not avro at all " + uuid.uuid4().bytes),
        "unknown schema": (Family.FAVOURITES, struct.pack(">bI", 0, 987_654) + b"\x00" * 40),
        "truncated": (Family.FAVOURITES, valid_framing + b"\x48" + uuid.uuid4().hex[:10].encode()),
        "year 0": (
            Family.FAVOURITES,
            await encoder.encode(
                Family.FAVOURITES,
                {**_record(user, films[0], action="added"), "client_ts": YEAR_0_MS},
            ),
        ),
        "score 42": (
            Family.RATINGS,
            await encoder.encode(Family.RATINGS, _record(user, films[1], score=42)),
        ),
        "empty": (Family.VIEWING, b""),
    }
    dlq = AIOKafkaConsumer(
        topic_name(settings, DEAD_LETTER),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="latest",
        group_id=f"t-{uuid.uuid4().hex[:6]}",
    )
    await dlq.start()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    valid: dict[Family, int] = {family: 0 for family in Family}
    try:
        await eventually(lambda: _assigned(dlq), bool)
        # Each poison message between two valid events of the same key, so of one partition.
        for index, (family, value) in enumerate(poison.values()):
            film = films[index]
            key = f"{user}:{film}".encode()
            before, after = _valid_pair(family, user, film)
            for record in (before, None, after):
                payload = value if record is None else await encoder.encode(family, record)
                await producer.send_and_wait(topic_name(settings, family), payload, key=key)
                valid[family] += record is not None
        parked = await asyncio.wait_for(_collect(dlq, {v for _, v in poison.values()}), 60)
    finally:
        await producer.stop()
        await dlq.stop()

    for name, (family, value) in poison.items():
        headers = parked[value]
        assert headers["ugc-dlq-topic"] == topic_name(settings, family).encode(), name
        assert headers["ugc-dlq-reason"], name
    # Every valid event landed: its projection in MongoDB, its row in ClickHouse.
    expected_counts = {family.value: count for family, count in valid.items() if count}

    async def counts() -> dict[str, int]:
        rows = await asyncio.to_thread(pipeline.analytics, "viewer-events", user_id=str(user))
        return {k: v for k, v in rows.items() if v}

    assert await eventually(counts, lambda c: c == expected_counts, 60) == expected_counts
    await eventually(lambda: _projected(settings, user), lambda n: n == len(films), 60)


def _valid_pair(
    family: Family, user: uuid.UUID, film: uuid.UUID
) -> tuple[dict[str, Any], dict[str, Any]]:
    payload: dict[Family, dict[str, Any]] = {
        Family.FAVOURITES: {"action": "added"},
        Family.RATINGS: {"score": 7},
        Family.VIEWING: {"watched_seconds": 30, "session_id": None},
        Family.PLAYBACK: {
            "action": "play",
            "position_ms": 0,
            "from_position_ms": None,
            "duration_ms": None,
        },
    }
    return _record(user, film, **payload[family]), _record(user, film, **payload[family])


async def _projected(settings, user: uuid.UUID) -> int:
    """Films of the viewer with something in MongoDB (a favourite, a rating or progress)."""
    client = mongo_client(settings)
    try:
        db = client[settings.mongo_db]
        films: set[str] = set()
        for collection in ("favourites", "user_ratings", "progress"):
            async for doc in db[collection].find({"user_id": str(user)}):
                films.add(doc["movie_id"])
        return len(films)
    finally:
        await client.close()


async def _assigned(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=200)
    return bool(consumer.assignment())


async def _collect(consumer: AIOKafkaConsumer, values: set[bytes]) -> dict[bytes, dict[str, bytes]]:
    found: dict[bytes, dict[str, bytes]] = {}
    while not values <= found.keys():
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                if record.value in values:
                    found[record.value] = dict(record.headers)
    return found
