"""Cost of a projection write by collection size: `python -m bench.projection_writes`.

Against the stack of UGC_ENV_FILE (FerretDB and its PostgreSQL). For each size in BENCH_SIZES
(1,000 and 1,000,000) a database of its own holds that many preloaded `progress` documents
(bench/preload.py, kept for later runs; the largest is the stack's own database, which
bench/pipeline.py writes to). Then BENCH_ROUNDS rounds, each applying one agent batch of
BENCH_BATCH (500) position heartbeats to every size in turn (side by side, so the machine's
other load falls on both alike) through the worker's ProjectionWriter, as the viewing agent
does: mostly later positions of existing documents, a few new viewers (5%) and late heartbeats
(5%) that the newest-wins filter refuses. Per size: the time per write (batch time / writes,
with UGC_MONGO_WRITE_CONCURRENCY writes in flight) and the CPU FerretDB and PostgreSQL spent
per write. Run alone, it prints one JSON line.
"""

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from bench.cpu import CpuMeter, stack_pids
from bench.preload import T0, key, preload
from infra.init.mongo import init_mongo
from sinks.mongo.client import mongo_client
from sinks.mongo.projections import PositionChange, ProjectionWriter
from ugc.settings import Settings, get_settings

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,1000000").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "8"))
BATCH = int(os.environ.get("BENCH_BATCH", "500"))
STORES = ("ferretdb", "postgres")


@dataclass(frozen=True)
class WriteCost:
    documents: int
    writes: int
    us_per_write: float  # batch time / writes: what one agent batch costs per document
    batch_p50_s: float
    store_cpu_us_per_write: dict[str, float]

    @property
    def store_cpu_us(self) -> float:
        """The cost of a write that does not depend on the machine's other load as much."""
        return sum(self.store_cpu_us_per_write.values())


def database_for(settings: Settings, documents: int, largest: int) -> Settings:
    """The largest size is the stack's own database; the others get one each."""
    name = settings.mongo_db if documents == largest else f"bench_{documents}"
    return settings.model_copy(update={"mongo_db": name})


def heartbeats(documents: int, batch: int, number: int) -> list[PositionChange]:
    now = datetime.now(UTC) + timedelta(milliseconds=number)
    changes = []
    for index in random.sample(range(documents), min(batch, documents)):
        roll = random.random()
        user, movie = (uuid.uuid4(), uuid.uuid4()) if roll < 0.05 else key(index)  # new viewer
        ts = T0 - timedelta(minutes=1) if 0.05 <= roll < 0.10 else now  # late: refused
        changes.append(PositionChange(user, movie, 60_000 * number, None, ts, uuid.uuid4()))
    return changes


async def write_costs(
    settings: Settings, sizes: list[int] = SIZES, rounds: int = ROUNDS, batch: int = BATCH
) -> list[WriteCost]:
    databases = {n: database_for(settings, n, max(sizes)) for n in sizes}
    for documents, db_settings in databases.items():
        await preload(db_settings, documents)
        await init_mongo(db_settings)  # the PostgreSQL indexes of a new database
    client = mongo_client(settings)
    pids = {name: pid for name, pid in stack_pids(settings).items() if name in STORES}
    times: dict[int, list[float]] = {n: [] for n in sizes}
    cpu: dict[int, dict[str, float]] = {n: dict.fromkeys(pids, 0.0) for n in sizes}
    try:
        for number in range(rounds):
            for documents, db_settings in databases.items():
                writer = ProjectionWriter(
                    client[db_settings.mongo_db], settings.mongo_write_concurrency
                )
                changes = heartbeats(documents, batch, number)
                meter = CpuMeter(pids)
                meter.start()
                started = time.monotonic()
                await writer.apply_viewing(changes, [])
                times[documents].append((time.monotonic() - started) / len(changes))
                for name, used in meter.stop().items():
                    cpu[documents][name] += used / len(changes)
    finally:
        await client.close()
    return [
        WriteCost(
            documents=n,
            writes=rounds * min(batch, n),
            us_per_write=round(statistics.mean(times[n]) * 1e6),
            batch_p50_s=round(statistics.median(times[n]) * min(batch, n), 3),
            store_cpu_us_per_write={k: round(v * 1e6 / rounds) for k, v in cpu[n].items()},
        )
        for n in sizes
    ]


async def main() -> None:
    costs = await write_costs(get_settings())
    print(json.dumps([asdict(cost) for cost in costs]))


if __name__ == "__main__":
    asyncio.run(main())
