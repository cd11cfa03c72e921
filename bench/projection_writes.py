"""Projection write throughput on a large collection: `python -m bench.projection_writes`.

Runs against the stack of UGC_ENV_FILE (FerretDB and its PostgreSQL), in a database of its own
(`bench_writes`) that it fills once with BENCH_DOCS (100,000) progress documents (10 films per
viewer) and keeps for later runs. Then it applies BENCH_BATCHES (20) agent batches of
BENCH_BATCH (500) position heartbeats through the worker's ProjectionWriter, as the viewing
agent does: mostly later positions of existing documents, a few new viewers (5%) and late
heartbeats (5%) that the newest-wins filter refuses. Prints one JSON line: heartbeats per
second and batch latency. BENCH_INIT=0 skips `ugc init`'s indexes (see INIT).
"""

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.init.mongo import init_mongo
from infra.stack.process import ManagedProcess
from sinks.mongo.client import mongo_client
from sinks.mongo.projections import PositionChange, ProjectionWriter
from ugc.settings import Settings

DOCS = int(os.environ.get("BENCH_DOCS", "100000"))
BATCHES = int(os.environ.get("BENCH_BATCHES", "20"))
BATCH = int(os.environ.get("BENCH_BATCH", "500"))
# 0: leave the indexes as they are (to measure without the PostgreSQL ones: drop them first).
INIT = os.environ.get("BENCH_INIT", "1") != "0"
FILMS_PER_VIEWER = 10
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _key(i: int) -> tuple[uuid.UUID, uuid.UUID]:
    """The i-th preloaded (viewer, film): stable across runs."""
    user = uuid.UUID(int=(i // FILMS_PER_VIEWER) + 1)
    movie = uuid.UUID(int=(1 << 64) + (i % FILMS_PER_VIEWER) + 1)
    return user, movie


async def _preload(settings: Settings) -> None:
    client = mongo_client(settings)
    collection = client[settings.mongo_db]["progress"]
    try:
        have = await collection.count_documents({})
        chunk = 1000
        for start in range(have - have % chunk, DOCS, chunk):
            docs = []
            for i in range(start, min(start + chunk, DOCS)):
                user, movie = _key(i)
                docs.append(
                    {
                        "_id": f"{user}:{movie}",
                        "user_id": str(user),
                        "movie_id": str(movie),
                        "position_ms": 1000,
                        "position_at": T0,
                        "position_event_id": str(uuid.UUID(int=i)),
                        "duration_ms": 6_000_000,
                        "watched_seconds": 60,
                        "finished": False,
                        "updated_at": T0,
                    }
                )
            await collection.insert_many(docs, ordered=False)
    finally:
        await client.close()


def _batch(number: int) -> list[PositionChange]:
    now = T0 + timedelta(hours=1 + number)
    changes = []
    for keys_index in random.sample(range(DOCS), BATCH):
        roll = random.random()
        if roll < 0.05:
            user, movie = uuid.uuid4(), uuid.uuid4()  # a new viewer
        else:
            user, movie = _key(keys_index)
        ts = T0 - timedelta(minutes=1) if 0.05 <= roll < 0.10 else now  # late: refused
        changes.append(PositionChange(user, movie, 60_000 * number, None, ts, uuid.uuid4()))
    return changes


def _store_pids(settings: Settings) -> dict[str, int]:
    """FerretDB's process of the local stack, when it runs here."""
    pid = ManagedProcess("ferretdb", settings.stack_dir / "run", settings.stack_dir / "logs").pid()
    return {} if pid is None else {"ferretdb": pid}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main() -> None:
    settings = Settings().model_copy(update={"mongo_db": "bench_writes"})
    started = time.monotonic()
    await _preload(settings)
    if INIT:
        await init_mongo(settings)
    preload_s = time.monotonic() - started
    client = mongo_client(settings)
    writer = ProjectionWriter(client[settings.mongo_db], settings.mongo_write_concurrency)
    latencies = []
    stores = _store_pids(settings)
    cpu_before = time.process_time(), {name: _cpu_s(pid) for name, pid in stores.items()}
    try:
        for number in range(BATCHES):
            batch = _batch(number)
            started = time.monotonic()
            await writer.apply_viewing(batch, [])
            latencies.append(time.monotonic() - started)
    finally:
        await client.close()
    total = sum(latencies)
    heartbeats = BATCHES * BATCH
    cpu_us = {"python": (time.process_time() - cpu_before[0]) * 1e6 / heartbeats}
    for name, pid in stores.items():
        cpu_us[name] = (_cpu_s(pid) - cpu_before[1][name]) * 1e6 / heartbeats
    print(
        json.dumps(
            {
                "documents": DOCS,
                "batches": BATCHES,
                "batch": BATCH,
                "write_concurrency": settings.mongo_write_concurrency,
                "heartbeats_per_s": round(heartbeats / total, 1),
                # CPU per heartbeat: this process, and FerretDB's when the stack runs it here.
                "cpu_us_per_heartbeat": {name: round(us) for name, us in cpu_us.items()},
                "batch_p50_s": round(statistics.median(latencies), 3),
                "batch_max_s": round(max(latencies), 3),
                "preload_s": round(preload_s, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
