"""Cost of a projection write by collection size: `python -m bench.projection_writes`.

Against the stack of UGC_ENV_FILE (FerretDB and its PostgreSQL). For each size in BENCH_SIZES
(1,000 and 1,000,000) a database of its own holds that many preloaded `progress` documents
(bench/preload.py, kept for later runs; the largest is the stack's own database, which
bench/pipeline.py writes to). Then BENCH_ROUNDS rounds, each applying one agent batch of
BENCH_BATCH (500) position heartbeats to every size in turn (side by side, so the machine's
other load falls on both alike) through the worker's ProjectionWriter, as the viewing agent
does: later positions of the viewers watching (BENCH_WATCHING documents of the size, 2,000), a
few new viewers (5%) and late heartbeats (5%) that the newest-wins filter refuses. Each writer
lives through all rounds, as in a worker, after BENCH_WARMUP unmeasured rounds (so it knows the
documents it wrote, as a worker running for a while does). Per size and per number of updates
sent in one command (BENCH_UPDATES_PER_COMMAND, default UGC_MONGO_UPDATES_PER_COMMAND, e.g.
"1,8" to compare): the time per write (batch time / writes, with UGC_MONGO_WRITE_CONCURRENCY
updates in flight), the CPU FerretDB and PostgreSQL spent per write, and the writer's own
(this process's) CPU per write. `make bench-writes` runs it alone on its own stack, comparing
1, 4 and 8 updates per command, at 0% and 5% late heartbeats, and writes its section of
docs/benchmarks.md and docs/benchmarks/projection_writes.json.
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
from bench.machine import machine_facts, machine_line, replace_section
from bench.measures import load_average
from bench.preload import T0, key, preload
from infra.init.mongo import init_mongo
from sinks.mongo.client import mongo_client
from sinks.mongo.projections import PositionChange, ProjectionWriter
from ugc.settings import PROJECT_ROOT, Settings, get_settings

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,1000000").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "8"))
BATCH = int(os.environ.get("BENCH_BATCH", "500"))
WATCHING = int(os.environ.get("BENCH_WATCHING", "2000"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "4"))
LATE = float(os.environ.get("BENCH_LATE_SHARE", "0.05"))  # late heartbeats, refused
STORES = ("ferretdb", "postgres")
RESULTS = PROJECT_ROOT / "docs" / "benchmarks.md"
JSON_RESULTS = PROJECT_ROOT / "docs" / "benchmarks" / "projection_writes.json"


@dataclass(frozen=True)
class WriteCost:
    documents: int
    writes: int
    us_per_write: float  # batch time / writes: what one agent batch costs per document
    batch_p50_s: float
    store_cpu_us_per_write: dict[str, float]
    updates_per_command: int = 1
    client_cpu_us_per_write: float = 0.0  # the writer's own process

    @property
    def store_cpu_us(self) -> float:
        """The cost of a write that does not depend on the machine's other load as much."""
        return sum(self.store_cpu_us_per_write.values())


def database_for(settings: Settings, documents: int, largest: int) -> Settings:
    """The largest size is the stack's own database; the others get one each."""
    name = settings.mongo_db if documents == largest else f"bench_{documents}"
    return settings.model_copy(update={"mongo_db": name})


def heartbeats(
    watching: list[int], batch: int, number: int, late: float = LATE
) -> list[PositionChange]:
    now = datetime.now(UTC) + timedelta(milliseconds=number)
    changes = []
    for index in random.sample(watching, min(batch, len(watching))):
        roll = random.random()
        user, movie = (uuid.uuid4(), uuid.uuid4()) if roll < 0.05 else key(index)  # new viewer
        ts = T0 - timedelta(minutes=1) if 0.05 <= roll < 0.05 + late else now  # late: refused
        changes.append(PositionChange(user, movie, 60_000 * number, None, ts, uuid.uuid4()))
    return changes


async def write_costs(
    settings: Settings,
    sizes: list[int] = SIZES,
    rounds: int = ROUNDS,
    batch: int = BATCH,
    per_command: list[int] | None = None,
    late: float = LATE,
) -> list[WriteCost]:
    per_command = per_command or _per_command(settings)
    databases = {n: database_for(settings, n, max(sizes)) for n in sizes}
    for documents, db_settings in databases.items():
        await preload(db_settings, documents)
        await init_mongo(db_settings)  # the PostgreSQL indexes of a new database
    client = mongo_client(settings)
    pids = {name: pid for name, pid in stack_pids(settings).items() if name in STORES}
    variants = [(n, k) for n in sizes for k in per_command]
    writers = {
        (n, k): ProjectionWriter(
            client[databases[n].mongo_db], settings.mongo_write_concurrency, updates_per_command=k
        )
        for n, k in variants
    }
    watching = {n: random.sample(range(n), min(WATCHING, n)) for n in sizes}
    times: dict[tuple[int, int], list[float]] = {v: [] for v in variants}
    own: dict[tuple[int, int], float] = dict.fromkeys(variants, 0.0)
    cpu: dict[tuple[int, int], dict[str, float]] = {v: dict.fromkeys(pids, 0.0) for v in variants}
    try:
        for number in range(WARMUP + rounds):
            for variant in variants:
                changes = heartbeats(watching[variant[0]], batch, number, late)
                meter = CpuMeter(pids)
                meter.start()
                own_started, started = time.process_time(), time.monotonic()
                await writers[variant].apply_viewing(changes, [])
                if number < WARMUP:
                    meter.stop()
                    continue
                times[variant].append((time.monotonic() - started) / len(changes))
                own[variant] += (time.process_time() - own_started) / len(changes)
                for name, used in meter.stop().items():
                    cpu[variant][name] += used / len(changes)
    finally:
        await client.close()
    return [
        WriteCost(
            documents=n,
            writes=rounds * min(batch, len(watching[n])),
            us_per_write=round(statistics.mean(times[n, k]) * 1e6),
            batch_p50_s=round(statistics.median(times[n, k]) * min(batch, len(watching[n])), 3),
            store_cpu_us_per_write={name: round(v * 1e6 / rounds) for name, v in cpu[n, k].items()},
            updates_per_command=k,
            client_cpu_us_per_write=round(own[n, k] * 1e6 / rounds),
        )
        for n, k in variants
    ]


def _per_command(settings: Settings) -> list[int]:
    chosen = os.environ.get("BENCH_UPDATES_PER_COMMAND")
    if chosen:
        return [int(k) for k in chosen.split(",")]
    return [settings.mongo_updates_per_command]


async def main() -> None:
    settings = get_settings()
    started = time.monotonic()
    load = load_average()
    runs = {}
    for late in (0.0, 0.05):  # a late heartbeat makes its command send its updates again
        runs[late] = await write_costs(settings, per_command=_per_command_compared(), late=late)
    document = {
        "machine": machine_facts(),
        "command": "make bench-writes",
        "duration_s": round(time.monotonic() - started),
        "load_average_at_start": load,
        "write_concurrency": settings.mongo_write_concurrency,
        "batch": BATCH,
        "rounds": ROUNDS,
        "by_late_share": {str(late): [asdict(c) for c in costs] for late, costs in runs.items()},
    }
    JSON_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    JSON_RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    replace_section(str(RESULTS), "Projection writes by command size", _section(runs, load))
    print(json.dumps(document["by_late_share"]))


def _per_command_compared() -> list[int]:
    return [int(k) for k in os.environ.get("BENCH_UPDATES_PER_COMMAND", "1,4,8").split(",")]


def _section(runs: dict[float, list[WriteCost]], load: float) -> str:
    rows = [
        f"| {late:.0%} | {c.documents:,} | {c.updates_per_command} | {c.us_per_write:,} | "
        f"{c.client_cpu_us_per_write:,.0f} | {c.store_cpu_us:,.0f} | "
        f"{c.client_cpu_us_per_write + c.store_cpu_us:,.0f} |"
        for late, costs in runs.items()
        for c in costs
    ]
    return f"""Measured {machine_line()}: `make bench-writes` (bench/projection_writes.py), load
average {load} at the start. Agent batches of {BATCH} heartbeats through the worker's
ProjectionWriter, {ROUNDS} measured rounds after {WARMUP} unmeasured ones, every variant
side by side in each round. CPU is per write, in µs: the writer's own process (pymongo), and
FerretDB + PostgreSQL.

| late | documents | per command | µs per write | writer CPU | store CPU | CPU in all |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

A command is sent again one update at a time when its reply does not show every update
matched, which a late heartbeat (refused by the newest-wins filter) causes: at 5% late ones
that happens to about a third of the commands of 8.
"""


if __name__ == "__main__":
    asyncio.run(main())
