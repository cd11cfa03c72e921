"""The ceiling: the raw aiokafka producer with the same Avro payloads and producer settings.

Run as its own process by bench/ingest.py; prints one JSON line {"events": N, "seconds": S}.
"""

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime

import uvloop

from ingest_api.gateways.event_log import new_producer
from schemas.codec import EventEncoder
from ugc.events import Family, topic_name
from ugc.settings import get_settings

IN_FLIGHT = 2000  # bounded number of unacknowledged sends, like many concurrent requests


async def main(count: int) -> None:
    settings = get_settings()
    encoder = EventEncoder(settings)
    now = datetime.now(UTC)
    user = str(uuid.uuid4())
    payloads = []
    for _ in range(1000):
        movie = str(uuid.uuid4())
        record = {
            "event_id": str(uuid.uuid4()), "user_id": user, "movie_id": movie,
            "client_ts": now, "server_ts": now, "watched_seconds": 30, "session_id": None,
        }  # fmt: skip
        payloads.append((f"{user}:{movie}".encode(), await encoder.encode(Family.VIEWING, record)))
    # The same producer configuration as the API's gateway.
    producer = new_producer(settings)
    await producer.start()
    topic = topic_name(settings, Family.VIEWING)
    try:
        started = time.perf_counter()
        pending: list[asyncio.Future[object]] = []
        for i in range(count):
            key, value = payloads[i % len(payloads)]
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    print(json.dumps({"events": count, "seconds": elapsed}))


if __name__ == "__main__":
    # uvloop, as under uvicorn: the ceiling runs on the same event loop as the API.
    uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
