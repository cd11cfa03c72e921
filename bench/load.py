"""Open-loop load for bench/pipeline.py, in a process of its own (never the API's).

`python -m bench.load URL RATE SECONDS START_AT OUT` (the viewer's JWT in BENCH_TOKEN) posts
single events to the API at a steady RATE from the epoch time START_AT: event i is due at
START_AT + i / RATE whether or not earlier ones were answered (open loop), with at most
IN_FLIGHT requests outstanding. Even events are position heartbeats, odd ones viewing time;
each has its own film and a client event_id, so every event is a document and a row of its own
downstream. For each event OUT gets kind, event_id, movie_id, when it was due, sent and
answered (epoch seconds, this machine's clock) and the HTTP status; one JSON document.
"""

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import uvloop

IN_FLIGHT = 256  # well above rate x latency at the rates measured, so the schedule holds
WARM_CONNECTIONS = 16
LATE_START_S = 0.2  # started later than that: the schedule begins when the process is ready


@dataclass
class Sent:
    kind: str  # the route: position, viewing, favourites, ratings
    event_id: str
    movie_id: str
    due: float  # seconds after the start, then (once scheduled) epoch seconds
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0  # 0: no HTTP answer (connection error or timeout)
    user: str = ""  # the viewer (bench/viewers.py); empty: the one of BENCH_TOKEN
    fields: dict[str, Any] | None = None  # the body besides event_id and movie_id


def body(event: Sent) -> bytes:
    if event.fields is not None:
        values = event.fields
    elif event.kind == "position":
        values = {"position_ms": 1000}
    else:
        values = {"watched_seconds": 30}
    return json.dumps({"event_id": event.event_id, "movie_id": event.movie_id, **values}).encode()


def plan(rate: float, seconds: float) -> list[Sent]:
    return [
        Sent(
            kind="position" if i % 2 == 0 else "viewing",
            event_id=str(uuid.uuid4()),
            movie_id=str(uuid.uuid4()),
            due=i / rate,
        )
        for i in range(round(rate * seconds))
    ]


async def post(
    session: aiohttp.ClientSession, event: Sent, headers: dict[str, str] | None = None
) -> None:
    event.sent = time.time()
    try:
        url = f"/api/v1/events/{event.kind}"
        async with session.post(url, data=body(event), headers=headers) as reply:
            await reply.read()
            event.status = reply.status
    except (aiohttp.ClientError, TimeoutError):
        event.status = 0
    event.answered = time.time()


async def warm(session: aiohttp.ClientSession) -> None:
    """Open the connections before the clock starts (the API's health page costs nothing)."""

    async def one() -> None:
        async with session.get("/api/v1/health") as reply:
            await reply.read()

    await asyncio.gather(*(one() for _ in range(WARM_CONNECTIONS)))


async def drive(session: aiohttp.ClientSession, events: list[Sent], tokens: dict[str, str]) -> None:
    """Send each event when due; a full window delays the next ones (they count as late)."""
    window = asyncio.Semaphore(IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()

    async def bounded(event: Sent) -> None:
        try:
            token = tokens.get(event.user)
            await post(session, event, {"Authorization": f"Bearer {token}"} if token else None)
        finally:
            window.release()

    for event in events:
        wait = event.due - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        await window.acquire()
        task = asyncio.create_task(bounded(event))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


async def run(
    url: str,
    token: str,
    events: list[Sent],
    start_at: float,
    tokens: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Send `events` (due in seconds from the start; ids made before the clock starts) with
    `token`, or the token of their `user` from `tokens`."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        url, headers=headers, connector=connector, timeout=timeout
    ) as s:
        await warm(s)
        if start_at > time.time():
            await asyncio.sleep(start_at - time.time())
        start = start_at if time.time() - start_at < LATE_START_S else time.time()
        for event in events:
            event.due += start
        await drive(s, events, tokens or {})
    return {"start": start, "events": [asdict(e) for e in events]}


def write(out: str, result: dict[str, Any]) -> None:
    with open(out, "w") as file:
        json.dump(result, file)


def main() -> None:
    url, rate, seconds, start_at, out = sys.argv[1:6]
    events = plan(float(rate), float(seconds))
    write(out, uvloop.run(run(url, os.environ["BENCH_TOKEN"], events, float(start_at))))


if __name__ == "__main__":
    main()
