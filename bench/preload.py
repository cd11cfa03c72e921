"""Fill a database's `progress` collection with N realistic documents, once.

`python -m bench.preload N` (against the stack of UGC_ENV_FILE) inserts the documents that are
missing, 10 films per viewer, so that the benchmarks write to a collection of a realistic size;
what an earlier run inserted stays (the stack folder keeps it) and is not inserted again.
Through the MongoDB wire protocol, as the worker writes: `insert_many` of CHUNK documents, a few
at a time (FerretDB 1.24 holds a pool connection per statement of a command; pymongo's
`bulk_write` fails on its replies). Resume positions and watch totals both live in `progress`.
"""

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from sinks.mongo.client import mongo_client
from sinks.mongo.documents import Progress, viewer_film_key
from sinks.mongo.projections import DUPLICATE_KEY
from ugc.settings import Settings, get_settings

FILMS_PER_VIEWER = 10
CHUNK = 1000
CONCURRENT = 2  # two cores: more inserters only queue in PostgreSQL
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FILM_MS = 6_000_000


def key(i: int) -> tuple[uuid.UUID, uuid.UUID]:
    """The i-th preloaded (viewer, film): stable across runs, so later runs find them."""
    user = uuid.UUID(int=(i // FILMS_PER_VIEWER) + 1)
    movie = uuid.UUID(int=(1 << 64) + (i % FILMS_PER_VIEWER) + 1)
    return user, movie


def document(i: int) -> dict[str, Any]:
    user, movie = key(i)
    return {
        "_id": viewer_film_key(user, movie),
        "user_id": str(user),
        "movie_id": str(movie),
        "position_ms": 1000,
        "position_at": T0,
        "position_event_id": str(uuid.UUID(int=i)),
        "duration_ms": FILM_MS,
        "watched_seconds": 60,
        "viewing_offset": -1,  # below any Kafka offset: the first real viewing event adds
        "finished": False,
        "updated_at": T0,
    }


async def _fill(collection: AsyncCollection, starts: list[int], total: int) -> None:
    for start in starts:
        docs = [document(i) for i in range(start, min(start + CHUNK, total))]
        try:
            await collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:  # a chunk an interrupted run inserted in part
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise


async def preload(settings: Settings, total: int) -> tuple[int, float]:
    """Returns how many documents are preloaded and the seconds spent inserting them.
    Documents are inserted in index order, so the count of preloaded ones tells where to go
    on (other documents, written by the benchmarks, have other viewers)."""
    client = mongo_client(settings)
    collection = client[settings.mongo_db][Progress.Settings.name]
    started = time.monotonic()
    try:
        last = await collection.find_one({"_id": viewer_film_key(*key(total - 1))})
        if last is None:
            have = await _count_preloaded(collection, total)
            starts = list(range(have - have % CHUNK, total, CHUNK))
            shares = [starts[k::CONCURRENT] for k in range(CONCURRENT)]
            await asyncio.gather(*(_fill(collection, share, total) for share in shares))
    finally:
        await client.close()
    # Not counted: FerretDB 1.24 reads the whole table to count (80 s at 1M documents).
    return total, time.monotonic() - started


async def _count_preloaded(collection: AsyncCollection, total: int) -> int:
    """The first chunk not fully there (binary search on the stable keys)."""
    low, high = 0, total // CHUNK
    while low < high:
        middle = (low + high) // 2
        if await collection.find_one({"_id": viewer_film_key(*key(middle * CHUNK))}):
            low = middle + 1
        else:
            high = middle
    return max(0, (low - CONCURRENT) * CHUNK)  # the inserters interleave their chunks


def main() -> None:
    count, seconds = asyncio.run(preload(get_settings(), int(sys.argv[1])))
    print(f"progress documents: {count:,} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
