"""bench/pipeline.py's freshness phase: viewers at a given rate, plus one probe viewer.

The viewers (bench/viewers.py, as in the ladder) make the rate; their heartbeats give the resume
freshness: from each 202 to the answer of the worker's write that stored it. The probe viewer
sends PROBE_RATE events/s besides, each for a film of its own (half heartbeats, half viewing
time: new documents), and for each, the delay from its 202 (as the load process received it)
to the moment it is visible
- in the read API: when the worker's MongoDB write of its `progress` document was answered
  (bench/worker.py logs that; the read API serves that document as it is, which a sample of
  GET /api/v1/me/progress/{movie_id} confirms);
- in ClickHouse: when a query through the raw-events worker's /analytics/viewer-ingested view
  first returned its row (polled every POLL_S, for the probe viewer only).
Both are times by which the event certainly was visible, so a delay is never understated; the
moment the write started (MongoDB) or the row's ingested_at (ClickHouse) bound it from below.
An event not visible DEADLINE_S after the last 202 counts as never seen.
"""

import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from bench.ladder import resume_delays, run_viewers
from bench.measures import (
    NEVER,
    Delays,
    Event,
    Load,
    Write,
    WriteLog,
    load_average,
    percentile,
    run_child,
)
from bench.services import api_url, worker_url
from bench.viewers import events_per_viewer_s
from ingest_api.auth import mint_token
from sinks.mongo.documents import viewer_film_key
from ugc.settings import Settings
from ugc.tokens import mint_analyst_token

SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
DEADLINE_S = float(os.environ.get("BENCH_DEADLINE_S", "20"))
POLL_S = 0.25  # ClickHouse polling period: the resolution of its upper bound
SAMPLE_READS = 10
PROBE_RATE = 10.0


async def run_load(settings: Settings, user: uuid.UUID, rate: float, seconds: float) -> Load:
    """bench/load.py: starts 1.5 s from now (imports, connections)."""
    token = mint_token(settings, user, timedelta(hours=1))
    args = [api_url(settings), str(rate), str(seconds), str(time.time() + 1.5)]
    return await run_child(settings, "bench.load", args, rate, seconds, {"BENCH_TOKEN": token})


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


@dataclass(frozen=True)
class Freshness:
    load: Load  # the viewers'
    resume: Delays  # their heartbeats: 202 -> stored
    probe: Load
    mongo: Delays  # the probe's events: 202 -> update answered (upper bound)
    mongo_started: Delays  # 202 -> update sent (lower bound)
    mongo_write_p50: float
    clickhouse: Delays  # 202 -> first poll that returned the row (upper bound)
    clickhouse_ingested: Delays  # 202 -> ingested_at (lower bound)
    reads_ok: int
    reads_checked: int
    lag_at_end: int
    poll_failures: int
    load_avg: float


async def measure_freshness(
    settings: Settings, rate: float, writes: WriteLog, lag_now: Callable[[], Awaitable[int]]
) -> Freshness:
    user = uuid.uuid4()
    stop = asyncio.Event()
    watch = ClickHouseWatch(settings, user, since=time.time() - 2)
    polling = asyncio.create_task(watch.run(stop))
    viewers = max(1, round(rate / events_per_viewer_s()))
    try:
        load, probe = await asyncio.gather(
            run_viewers(settings, viewers, SECONDS, seed=viewers + 1),
            run_load(settings, user, PROBE_RATE, SECONDS),
        )
        lag_at_end = await lag_now()
        found = await wait_until_visible(settings, user, probe, writes, watch)
        resume = await resume_delays(load, writes)
    finally:
        stop.set()
        await polling
    reads = await check_reads(settings, user, probe, found)
    return summarise(load, resume, probe, found, watch, reads, lag_at_end)


def key_of(user: uuid.UUID, event: Event) -> str:
    return viewer_film_key(user, event["movie_id"])


async def wait_until_visible(
    settings: Settings, user: uuid.UUID, load: Load, writes: WriteLog, watch: ClickHouseWatch
) -> dict[str, Write]:
    """Until every accepted event is in both sinks, or DEADLINE_S after the last 202; the
    first write of each event's document, by movie."""
    deadline = max((e["answered"] for e in load.events), default=time.time()) + DEADLINE_S
    while True:
        writes.refresh()
        in_mongo = all(key_of(user, e) in writes.by_key for e in load.accepted)
        in_clickhouse = all(e["event_id"] in watch.seen for e in load.accepted)
        if (in_mongo and in_clickhouse) or time.time() > deadline:
            break
        await asyncio.sleep(0.5)
    return {
        e["movie_id"]: writes.by_key[key_of(user, e)]
        for e in load.accepted
        if key_of(user, e) in writes.by_key
    }


def summarise(
    load: Load,
    resume: Delays,
    probe: Load,
    found: dict[str, Write],
    watch: ClickHouseWatch,
    reads: tuple[int, int],
    lag_at_end: int,
) -> Freshness:
    accepted = probe.accepted
    return Freshness(
        load=load,
        resume=resume,
        probe=probe,
        mongo=Delays.of([after(found, e, started=False) for e in accepted]),
        mongo_started=Delays.of([after(found, e, started=True) for e in accepted]),
        mongo_write_p50=percentile([w.answered - w.sent for w in found.values()], 0.5),
        clickhouse=Delays.of([since_202(watch.seen, e) for e in accepted]),
        clickhouse_ingested=Delays.of([since_202(watch.ingested, e) for e in accepted]),
        reads_ok=reads[0],
        reads_checked=reads[1],
        lag_at_end=lag_at_end,
        poll_failures=watch.failures,
        load_avg=load_average(),
    )


def after(found: dict[str, Write], event: Event, started: bool) -> float:
    """From the 202 to the write's start or answer; NEVER if not written."""
    write = found.get(event["movie_id"])
    if write is None:
        return NEVER
    return (write.sent if started else write.answered) - event["answered"]


def since_202(times: dict[str, float], event: Event) -> float:
    at = times.get(event["event_id"])
    return NEVER if at is None else at - event["answered"]


async def check_reads(
    settings: Settings, user: uuid.UUID, load: Load, found: dict[str, Write]
) -> tuple[int, int]:
    """The read API serves what the worker wrote: a sample of written events, read back."""
    written = [e for e in load.accepted if e["movie_id"] in found]
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
