"""The ceiling: a raw producer with the same Avro payloads and producer settings as the API.

`python -m bench.raw_producer COUNT [aiokafka|confluent]`, run as its own process by
bench/ingest.py; prints one JSON line {"client", "events", "seconds", "payload_bytes" (mean)}.

- confluent: librdkafka through confluent-kafka with the API's own producer configuration
  (ingest_api/gateways/event_log.py), delivery confirmed per record.
- aiokafka: the same guarantees and batching (acks=all, idempotent, the same compression and
  linger), on uvloop as under uvicorn.
"""

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime

import uvloop
from aiokafka import AIOKafkaProducer

from ingest_api.gateways.event_log import producer_config
from ingest_api.gateways.partitioner import fast_default_partitioner
from schemas.codec import EventEncoder
from ugc.events import Family, topic_name
from ugc.settings import Settings, get_settings

IN_FLIGHT = 2000  # bounded number of unacknowledged sends, like many concurrent requests


async def payloads(settings: Settings) -> list[tuple[bytes, bytes]]:
    encoder = EventEncoder(settings)
    now = datetime.now(UTC)
    user = str(uuid.uuid4())
    out = []
    for _ in range(1000):
        movie = str(uuid.uuid4())
        record = {
            "event_id": str(uuid.uuid4()), "user_id": user, "movie_id": movie,
            "client_ts": now, "server_ts": now, "watched_seconds": 30, "session_id": None,
        }  # fmt: skip
        out.append((f"{user}:{movie}".encode(), await encoder.encode(Family.VIEWING, record)))
    return out


def aiokafka_producer(settings: Settings) -> AIOKafkaProducer:
    """aiokafka with the API producer's guarantees (the API's gateway before librdkafka)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="ugc-ingest",
        acks="all",
        enable_idempotence=True,
        compression_type=settings.producer_compression or None,
        linger_ms=settings.producer_linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=int(settings.produce_timeout_s * 1000),
        retry_backoff_ms=100,
        partitioner=fast_default_partitioner,
    )


async def aiokafka_run(settings: Settings, count: int, data: list[tuple[bytes, bytes]]) -> float:
    producer = aiokafka_producer(settings)
    await producer.start()
    topic = topic_name(settings, Family.VIEWING)
    try:
        started = time.perf_counter()
        pending: list[asyncio.Future[object]] = []
        for i in range(count):
            key, value = data[i % len(data)]
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return time.perf_counter() - started
    finally:
        await producer.stop()


def confluent_run(settings: Settings, count: int, data: list[tuple[bytes, bytes]]) -> float:
    from confluent_kafka import Producer

    producer = Producer(producer_config(settings))  # the API's own
    topic = topic_name(settings, Family.VIEWING)
    failed = 0

    def delivered(error: object, message: object) -> None:
        nonlocal failed
        if error is not None:
            failed += 1

    producer.list_topics(topic, timeout=10)  # connected, like aiokafka's start()
    started = time.perf_counter()
    for i in range(count):
        key, value = data[i % len(data)]
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)
        if i % IN_FLIGHT == 0:
            producer.poll(0)
    producer.flush(30)
    elapsed = time.perf_counter() - started
    if failed:
        sys.exit(f"{failed} records not acknowledged")
    return elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    client = sys.argv[2] if len(sys.argv) > 2 else "aiokafka"
    settings = get_settings()
    data = uvloop.run(payloads(settings))
    if client == "aiokafka":
        # uvloop, as under uvicorn: the ceiling runs on the same event loop as the API.
        seconds = uvloop.run(aiokafka_run(settings, count, data))
    elif client == "confluent":
        seconds = confluent_run(settings, count, data)
    else:
        sys.exit(f"unknown client {client!r}: aiokafka or confluent")
    payload_bytes = sum(len(value) for _, value in data) / len(data)
    result = {"client": client, "events": count, "seconds": seconds, "payload_bytes": payload_bytes}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
