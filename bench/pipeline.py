"""`make bench-pipeline`: how fresh the pipeline's outputs are, and what rate it sustains.

Runs against its own stack instance (UGC_ENV_FILE=bench/stack.env: folder .stack-bench, its own
ports), which the Makefile target starts before and stops after. One uvicorn worker serves the
API and the real Faust worker consumes; the load comes from bench/load.py in a process of its
own, open loop, single events, each with a film of its own so that it is one MongoDB document
and one ClickHouse row.

1. Freshness: BENCH_RATE events/s (500) for BENCH_SECONDS (30). Per accepted event, the delay
   from its 202 (as the load process received it) to the moment it is visible
   - in the read API: when the worker's MongoDB update of its `progress` document was answered
     (bench/worker.py logs that; the read API serves that document as it is, which a sample of
     GET /api/v1/me/progress/{movie_id} confirms);
   - in ClickHouse: when a query through the worker's /analytics/viewer-ingested view first
     returned its row (polled every POLL_S).
   Both are times by which the event certainly was visible, so a delay is never understated;
   the moment the write started (MongoDB) or the row's ingested_at (ClickHouse) bound it from
   below. An event not visible DEADLINE_S after the last 202 counts as never seen.
2. Highest sustained rate: BENCH_STEPS events/s, BENCH_STEP_S (20) each, up from the lowest
   until the first step that is not sustained: the load falls short of the rate, or the consumer
   lag of the worker's group grew from the middle of the step to its end.

Each phase starts from the same state: the group's offsets moved to the end of the topics (no
backlog of an earlier run) and the MongoDB projections emptied. Results go to docs/benchmarks.md.
"""

import asyncio
import json
import logging
import math
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.kafka_lag import LagProbe, LagSample, skip_to_end
from bench.machine import machine_line, replace_section
from bench.services import Workers, api_url, start_api, start_worker, worker_url
from infra.stack.manager import Stack
from ingest_api.auth import mint_token
from sinks.mongo.client import mongo_client
from sinks.mongo.documents import Progress
from sinks.mongo.projections import VIEWING_SEEN
from ugc.settings import PROJECT_ROOT, Settings, get_settings
from ugc.tokens import mint_analyst_token

RATE = float(os.environ.get("BENCH_RATE", "500"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
STEPS = [
    float(r) for r in os.environ.get("BENCH_STEPS", "10,25,50,100,250,500,1000,2000").split(",")
]
STEP_S = float(os.environ.get("BENCH_STEP_S", "20"))
DEADLINE_S = float(os.environ.get("BENCH_DEADLINE_S", "20"))
WARM_RATE, WARM_S = 50.0, 4.0  # schema caches, connections, the chDB folder: opened before
POLL_S = 0.25  # ClickHouse polling period: the resolution of its upper bound
LAG_EVERY_S = 0.25
SAMPLE_READS = 10
GROWTH_TOLERANCE_S = 0.5  # lag may grow by this many seconds of load within a sustained step
MIN_ACHIEVED = 0.95  # share of the offered rate the API must accept for a step to count
MONGO_TARGET_S = 1.0
RESULTS = PROJECT_ROOT / "docs" / "benchmarks.md"
BENCH_DIR = ".stack-bench"
COMMAND = "make bench-pipeline"
NEVER = math.inf
Event = dict[str, Any]  # one line of bench/load.py's output


# --- load ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    rate: float
    seconds: float
    start: float
    events: list[Event]

    @property
    def accepted(self) -> list[Event]:
        return [e for e in self.events if e["status"] == 202]

    @property
    def errors(self) -> int:
        return len(self.events) - len(self.accepted)

    @property
    def achieved(self) -> float:
        """Accepted events per second over the time it took to get them accepted."""
        last = max((e["answered"] for e in self.accepted), default=self.start)
        return len(self.accepted) / max(self.seconds, last - self.start)

    def latency(self, q: float) -> float:
        return percentile([e["answered"] - e["sent"] for e in self.events], q)


async def run_load(settings: Settings, user: uuid.UUID, rate: float, seconds: float) -> Load:
    """bench/load.py in its own process; starts 1.5 s from now (imports, connections)."""
    out = bench_dir(settings) / f"load-{rate:g}-{user}.json"
    token = mint_token(settings, user, timedelta(hours=1))
    start_at = time.time() + 1.5
    argv = ["-m", "bench.load", api_url(settings), str(rate), str(seconds), str(start_at), str(out)]
    child = await asyncio.create_subprocess_exec(
        sys.executable, *argv, cwd=PROJECT_ROOT, env={**os.environ, "BENCH_TOKEN": token}
    )
    if await child.wait() != 0:
        raise RuntimeError(f"the load generator failed (exit {child.returncode})")
    data = json.loads(out.read_text())
    out.unlink()
    return Load(rate, seconds, data["start"], data["events"])


# --- statistics ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; NEVER (an event not seen) sorts last."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Delays:
    p50: float
    p99: float
    max: float
    never: int
    count: int

    @classmethod
    def of(cls, values: list[float]) -> "Delays":
        return cls(
            percentile(values, 0.50),
            percentile(values, 0.99),
            max(values, default=math.nan),
            sum(v == NEVER for v in values),
            len(values),
        )


def seconds_text(value: float) -> str:
    if value == NEVER:
        return "never"
    return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


# --- the stack, the worker, the sinks -----------------------------------------------------


def bench_settings() -> Settings:
    """The bench stack's settings; never another stack's, whose data this would wipe."""
    os.environ.setdefault("UGC_ENV_FILE", str(PROJECT_ROOT / "bench" / "stack.env"))
    settings = get_settings()
    if settings.stack_dir.name != BENCH_DIR:
        sys.exit(f"refusing to run on {settings.stack_dir}: use UGC_ENV_FILE=bench/stack.env")
    down = [s.name for s in Stack(settings).status() if not s.health.ok]
    if down:
        sys.exit(f"the bench stack is not up ({', '.join(down)}): run `{COMMAND}`")
    return settings


def bench_dir(settings: Settings) -> Path:
    path = settings.stack_dir / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def reset_pipeline(settings: Settings) -> None:
    """With the worker stopped: skip what earlier runs left in Kafka, empty the projections."""
    await skip_to_end(settings)
    client = mongo_client(settings)
    try:
        database = client[settings.mongo_db]
        for name in (Progress.Settings.name, VIEWING_SEEN):
            await database[name].delete_many({})
    finally:
        await client.close()


async def count_progress(settings: Settings) -> int:
    client = mongo_client(settings)
    try:
        return int(await client[settings.mongo_db][Progress.Settings.name].count_documents({}))
    finally:
        await client.close()


async def worker_up(
    settings: Settings, name: str, user: uuid.UUID | None, write_log: Path | None
) -> Workers:
    log = bench_dir(settings) / f"worker-{name}.log"
    return await asyncio.to_thread(start_worker, settings, log, user, write_log)


async def sample_lag(probe: LagProbe, samples: list[LagSample], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(await probe.sample())
        await asyncio.sleep(LAG_EVERY_S)


async def warm_up(settings: Settings, probe: LagProbe) -> None:
    """A little load from another viewer, then wait (bounded) until the worker caught up."""
    await run_load(settings, uuid.uuid4(), WARM_RATE, WARM_S)
    deadline = time.time() + 30
    while time.time() < deadline:
        if (await probe.sample()).lag == 0:
            return
        await asyncio.sleep(0.5)


def read_write_log(path: Path) -> dict[str, tuple[float, float]]:
    """movie_id -> (update sent, update answered) of its first successful progress write."""
    writes: dict[str, tuple[float, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            movie, sent, answered = line.split()
            writes.setdefault(movie, (float(sent), float(answered)))
    return writes


@dataclass
class ClickHouseWatch:
    """Polls the worker's view for the viewer's rows: event_id -> first seen, ingested_at."""

    settings: Settings
    user: uuid.UUID
    since: float
    seen: dict[str, float] = field(default_factory=dict)
    ingested: dict[str, float] = field(default_factory=dict)
    failures: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        url = f"{worker_url(self.settings)}/analytics/viewer-ingested"
        analyst = {"Authorization": f"Bearer {mint_analyst_token(self.settings)}"}
        async with httpx.AsyncClient(timeout=10, headers=analyst) as client:
            while not stop.is_set():
                await self.poll(client, url)
                await asyncio.sleep(POLL_S)

    async def poll(self, client: httpx.AsyncClient, url: str) -> None:
        since = datetime.fromtimestamp(self.since, UTC).isoformat()
        params = {"user_id": str(self.user), "since": since, "limit": "100000"}
        try:
            response = await client.get(url, params=params)
            response.raise_for_status()
        except httpx.HTTPError as exc:  # a slow answer only delays what the next poll sees
            self.failures += 1
            print(f"clickhouse poll failed: {exc!r}", flush=True)
            return
        answered = time.time()  # the rows were there by now
        for row in response.json():
            at = datetime.fromisoformat(row["ingested_at"]).timestamp()
            self.seen.setdefault(row["event_id"], answered)
            self.ingested[row["event_id"]] = min(at, self.ingested.get(row["event_id"], at))
            # The worker inserts one batch at a time, so later rows carry later stamps; the
            # margin only keeps the next query safe should that ever change.
            self.since = max(self.since, at - 0.5)


# --- phase 1: freshness -------------------------------------------------------------------


@dataclass(frozen=True)
class Freshness:
    load: Load
    mongo: Delays  # 202 -> update answered (upper bound)
    mongo_started: Delays  # 202 -> update sent (lower bound)
    mongo_write_p50: float
    mongo_applied_per_s: float
    clickhouse: Delays  # 202 -> first poll that returned the row (upper bound)
    clickhouse_ingested: Delays  # 202 -> ingested_at (lower bound)
    reads_ok: int
    reads_checked: int
    lag_at_end: int
    documents: int
    poll_failures: int


async def freshness_phase(settings: Settings) -> Freshness:
    user = uuid.uuid4()
    write_log = bench_dir(settings) / f"writes-{user}.log"
    await reset_pipeline(settings)
    worker = await worker_up(settings, "freshness", user, write_log)
    try:
        async with LagProbe(settings) as probe:
            await warm_up(settings, probe)
            return await measure_freshness(settings, user, write_log, probe)
    finally:
        await asyncio.to_thread(worker.stop)
        write_log.unlink(missing_ok=True)


async def measure_freshness(
    settings: Settings, user: uuid.UUID, write_log: Path, probe: LagProbe
) -> Freshness:
    stop = asyncio.Event()
    watch = ClickHouseWatch(settings, user, since=time.time() - 2)
    polling = asyncio.create_task(watch.run(stop))
    try:
        load = await run_load(settings, user, RATE, SECONDS)
        lag_at_end = (await probe.sample()).lag
        writes = await wait_until_visible(load, write_log, watch)
    finally:
        stop.set()
        await polling
    reads = await check_reads(settings, user, load, writes)
    return summarise(load, writes, watch, reads, lag_at_end, await count_progress(settings))


async def wait_until_visible(
    load: Load, write_log: Path, watch: ClickHouseWatch
) -> dict[str, tuple[float, float]]:
    """Until every accepted event is in both sinks, or DEADLINE_S after the last 202."""
    deadline = max((e["answered"] for e in load.events), default=time.time()) + DEADLINE_S
    while True:
        writes = read_write_log(write_log)
        in_mongo = all(e["movie_id"] in writes for e in load.accepted)
        in_clickhouse = all(e["event_id"] in watch.seen for e in load.accepted)
        if (in_mongo and in_clickhouse) or time.time() > deadline:
            return writes
        await asyncio.sleep(0.5)


def summarise(
    load: Load,
    writes: dict[str, tuple[float, float]],
    watch: ClickHouseWatch,
    reads: tuple[int, int],
    lag_at_end: int,
    documents: int,
) -> Freshness:
    accepted = load.accepted
    mine = [writes[e["movie_id"]] for e in accepted if e["movie_id"] in writes]
    span = max((a for _, a in mine), default=0) - min((s for s, _ in mine), default=0)
    return Freshness(
        load=load,
        mongo=Delays.of([after(writes, 1, e) for e in accepted]),
        mongo_started=Delays.of([after(writes, 0, e) for e in accepted]),
        mongo_write_p50=percentile([a - s for s, a in mine], 0.5),
        mongo_applied_per_s=len(mine) / span if span > 0 else math.nan,
        clickhouse=Delays.of([since_202(watch.seen, e) for e in accepted]),
        clickhouse_ingested=Delays.of([since_202(watch.ingested, e) for e in accepted]),
        reads_ok=reads[0],
        reads_checked=reads[1],
        lag_at_end=lag_at_end,
        documents=documents,
        poll_failures=watch.failures,
    )


def after(writes: dict[str, tuple[float, float]], which: int, event: Event) -> float:
    """From the 202 to the write's start (which=0) or answer (1); NEVER if not written."""
    write = writes.get(event["movie_id"])
    return NEVER if write is None else write[which] - event["answered"]


def since_202(times: dict[str, float], event: Event) -> float:
    at = times.get(event["event_id"])
    return NEVER if at is None else at - event["answered"]


async def check_reads(
    settings: Settings, user: uuid.UUID, load: Load, writes: dict[str, tuple[float, float]]
) -> tuple[int, int]:
    """The read API serves what the worker wrote: a sample of written events, read back."""
    written = [e for e in load.accepted if e["movie_id"] in writes]
    sample = random.Random(0).sample(written, min(SAMPLE_READS, len(written)))
    headers = {"Authorization": f"Bearer {mint_token(settings, user, timedelta(hours=1))}"}
    ok = 0
    async with httpx.AsyncClient(base_url=api_url(settings), headers=headers, timeout=10) as c:
        for event in sample:
            response = await c.get(f"/api/v1/me/progress/{event['movie_id']}")
            body = response.json() if response.status_code == 200 else {}
            field_, value = (
                ("position_ms", 1000) if event["kind"] == "position" else ("watched_seconds", 30)
            )
            ok += body.get(field_) == value
    return ok, len(sample)


# --- phase 2: the highest sustained rate --------------------------------------------------


@dataclass(frozen=True)
class Step:
    load: Load
    lag_mid: float  # mean lag over the second quarter of the step
    lag_end: float  # mean lag over the last quarter

    @property
    def growth_per_s(self) -> float:
        return (self.lag_end - self.lag_mid) / (self.load.seconds / 2)

    @property
    def lag_steady(self) -> bool:
        return self.lag_end - self.lag_mid <= GROWTH_TOLERANCE_S * self.load.rate + 10

    @property
    def rate_held(self) -> bool:
        return self.load.errors == 0 and self.load.achieved >= MIN_ACHIEVED * self.load.rate

    @property
    def sustained(self) -> bool:
        return self.lag_steady and self.rate_held


async def ladder_phase(settings: Settings) -> list[Step]:
    await reset_pipeline(settings)
    worker = await worker_up(settings, "ladder", None, None)
    steps: list[Step] = []
    try:
        async with LagProbe(settings) as probe:
            await warm_up(settings, probe)
            for rate in STEPS:
                steps.append(await run_step(settings, probe, rate))
                if not steps[-1].sustained:
                    break
    finally:
        await asyncio.to_thread(worker.stop)
    return steps


async def run_step(settings: Settings, probe: LagProbe, rate: float) -> Step:
    stop, samples = asyncio.Event(), list[LagSample]()
    sampler = asyncio.create_task(sample_lag(probe, samples, stop))
    try:
        load = await run_load(settings, uuid.uuid4(), rate, STEP_S)
    finally:
        stop.set()
        await sampler
    step = Step(load, mean_lag(samples, load, 0.25, 0.5), mean_lag(samples, load, 0.75, 1.0))
    print(
        f"step {rate:g}/s: accepted {load.achieved:,.0f}/s, errors {load.errors}, lag "
        f"{step.lag_mid:,.0f} -> {step.lag_end:,.0f}, sustained: {step.sustained}",
        flush=True,
    )
    return step


def mean_lag(samples: list[LagSample], load: Load, start: float, end: float) -> float:
    """Mean over a window of the step: Faust commits once a second and the ClickHouse sink
    acks once per flush, so single samples saw-tooth; a mean over seconds does not."""
    low, high = load.start + start * load.seconds, load.start + end * load.seconds
    window = [s.lag for s in samples if low <= s.at <= high]
    return sum(window) / len(window) if window else math.nan


# --- report -------------------------------------------------------------------------------


def delay_row(name: str, delays: Delays, target: str) -> str:
    cells = [seconds_text(v) for v in (delays.p50, delays.p99, delays.max)]
    return f"| {name} | {' | '.join(cells)} | {delays.never} of {delays.count} | {target} |"


def fresh_ok(delays: Delays, target_s: float) -> bool:
    """A valid run sees every event; then its p99 is compared with the target."""
    return delays.never == 0 and delays.p99 <= target_s


def freshness_table(settings: Settings, fresh: Freshness) -> str:
    clickhouse_target = settings.clickhouse_flush_s + 1.0
    mongo_ok, clickhouse_ok = (
        fresh_ok(fresh.mongo, MONGO_TARGET_S),
        fresh_ok(fresh.clickhouse, clickhouse_target),
    )
    rows = [
        f"| from the 202 to visible in | p50 | p99 | max | not visible {DEADLINE_S:g} s after "
        "the last 202 | target |",
        "|---|---|---|---|---|---|",
        delay_row(
            "the read API (MongoDB write answered)",
            fresh.mongo,
            f"p99 ≤ {MONGO_TARGET_S:g} s: {verdict(mongo_ok)}",
        ),
        delay_row(
            f"ClickHouse (first poll that returned the row, every {POLL_S * 1000:.0f} ms)",
            fresh.clickhouse,
            f"p99 ≤ {clickhouse_target:g} s (flush {settings.clickhouse_flush_s:g} s + 1 s): "
            f"{verdict(clickhouse_ok)}",
        ),
        delay_row("lower bound: MongoDB write sent", fresh.mongo_started, ""),
        delay_row("lower bound: ClickHouse `ingested_at`", fresh.clickhouse_ingested, ""),
    ]
    return "\n".join(rows)


def ladder_table(steps: list[Step]) -> str:
    rows = [
        "| offered | accepted | errors | API p99 | lag, 2nd quarter | lag, last quarter "
        "| lag trend | sustained |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for step in steps:
        load = step.load
        why = "" if step.sustained else (" (lag grows)" if step.rate_held else " (load not held)")
        rows.append(
            f"| {load.rate:,.0f}/s | {load.achieved:,.0f}/s | {load.errors} "
            f"| {seconds_text(load.latency(0.99))} | {step.lag_mid:,.0f} | {step.lag_end:,.0f} "
            f"| {step.growth_per_s:+,.0f}/s | {'yes' if step.sustained else 'no' + why} |"
        )
    return "\n".join(rows)


def highest_sustained(steps: list[Step]) -> str:
    held = [s.load.rate for s in steps if s.sustained]
    if not held:
        return f"none of the steps (below {STEPS[0]:,.0f} events/s)"
    if len(held) == len(STEPS):
        return f"{held[-1]:,.0f} events/s, the highest step tried"
    return f"{held[-1]:,.0f} events/s (not {steps[len(held)].load.rate:,.0f})"


def freshness_notes(fresh: Freshness) -> str:
    load = fresh.load
    return (
        f"Load: {load.rate:g} events/s offered for {load.seconds:g} s, "
        f"{len(load.accepted):,} accepted ({load.achieved:,.0f}/s), {load.errors} errors, API "
        f"latency p50 {seconds_text(load.latency(0.5))}, p99 {seconds_text(load.latency(0.99))}. "
        f"Consumer lag of the worker's group when the load ended: {fresh.lag_at_end:,} events. "
        f"MongoDB: the worker applied {fresh.mongo_applied_per_s:,.0f} of these events/s; "
        f"median progress write {seconds_text(fresh.mongo_write_p50)}; "
        f"{fresh.documents:,} progress documents at the end. Read API check: "
        f"{fresh.reads_ok} of {fresh.reads_checked} sampled written events served by "
        "GET /api/v1/me/progress/{movie_id} with the values sent."
        + (f" ClickHouse polls that failed: {fresh.poll_failures}." if fresh.poll_failures else "")
    )


def print_freshness(fresh: Freshness) -> None:
    print(freshness_table(get_settings(), fresh), freshness_notes(fresh), sep="\n\n", flush=True)


def report(settings: Settings, fresh: Freshness, steps: list[Step]) -> None:
    rates = ",".join(f"{r:g}" for r in STEPS)
    body = f"""
Measured {machine_line()}. Command: `{COMMAND}` (bench/pipeline.py; BENCH_RATE={RATE:g}
BENCH_SECONDS={SECONDS:g} BENCH_STEPS={rates} BENCH_STEP_S={STEP_S:g}), on a stack of its own
(bench/stack.env) started for the run: one uvicorn worker, the Faust worker
(`faust -A streams.app worker -l info` and
`faust -A streams.raw_app worker -l info`), Kafka, FerretDB and chDB on this machine. The load
comes from bench/load.py in a separate process: single events straight to the API (not through
nginx), open loop, every event a film of its own (half position heartbeats, half viewing time),
so each is one `progress` document and one ClickHouse row.

**Freshness at {RATE:g} events/s for {SECONDS:g} s.** Delays run from the 202 as the load
process received it to a moment by which the event certainly was visible: for the read API, when
the worker's MongoDB update of its document was answered (a pymongo command listener in the
worker, bench/worker.py; the read API serves that document as stored), for ClickHouse, when a
query through the worker's `/analytics/viewer-ingested` view first returned the row. The lower
bounds (the write sent, the row's `ingested_at`) bracket the true moment. An event not visible
{DEADLINE_S:g} s after the last 202 is counted as never visible, and ranks last in the
percentiles. Each phase starts with the worker's group at the end of the topics and the
projections empty.

{freshness_table(settings, fresh)}

{freshness_notes(fresh)}

**Highest sustained rate: {highest_sustained(steps)}.** Steps of {STEP_S:g} s, lowest first,
until the first one not sustained: the API accepted less than {MIN_ACHIEVED:.0%} of the offered
rate (or answered errors), or the consumer lag of the workers' groups (`ugc-projections` +
`ugc-raw-events`: end offset
minus committed offset over the event topics, sampled every {LAG_EVERY_S * 1000:.0f} ms; Faust
commits what every agent acknowledged, so it is the slowest sink's backlog) grew by more than
{GROWTH_TOLERANCE_S:g} s of load from the second quarter of the step to the last.

{ladder_table(steps)}

What limits the pipeline here. FerretDB 1.24 on SQLite uses an index only to refuse a duplicate
`_id` on insert: an update, or a find that misses, scans the whole collection (binary UUID
fields two orders of magnitude slower than text). So the projections key documents by a text
`_id` ("user:movie") and write a key's first change as an insert (constant time, ~1 ms);
later changes of a key are updates whose cost still grows with the collection (about 33 ms at
10,000 documents), which a real MongoDB serves from the unique `_id` index. And the ClickHouse
sink and the MongoDB projections are agents of one Faust consumer: once one agent's stream
buffer is nearly full, Faust stops fetching that partition for all of them, so a MongoDB
backlog holds ClickHouse back as well (separate consumer groups would decouple them).
"""
    replace_section(str(RESULTS), "Pipeline freshness", body)
    print(body)


def main() -> None:
    # aiokafka warns while the group coordinator starts up on a fresh stack; it retries.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    settings = bench_settings()
    api = start_api(settings, bench_dir(settings) / "api.log")
    try:
        fresh = asyncio.run(freshness_phase(settings))
        print_freshness(fresh)
        steps = asyncio.run(ladder_phase(settings))
    finally:
        api.stop()
    report(settings, fresh, steps)


if __name__ == "__main__":
    main()
