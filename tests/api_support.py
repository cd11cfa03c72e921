"""Helpers for API tests: tokens, an in-process app with its lifespan, reading Kafka back."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from ingest_api.auth import mint_token
from ingest_api.main import create_app
from schemas.codec import EventDecoder
from ugc.events import Family, topic_name, topic_specs
from ugc.settings import Settings


def auth_headers(settings: Settings, user_id: uuid.UUID | None = None) -> dict[str, str]:
    token = mint_token(settings, user_id or uuid.uuid4(), timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in this process (lifespan included), talking to the real stack."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def end_offsets(settings: Settings, family: Family) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        topic = topic_name(settings, family)
        spec = next(spec for spec in topic_specs(settings) if spec.name == topic)
        partitions = [TopicPartition(topic, p) for p in range(spec.partitions)]
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def read_events(
    settings: Settings,
    family: Family,
    since: dict[TopicPartition, int],
    event_ids: set[str],
    timeout_s: float = 20.0,
) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Records with the given event ids written after `since`: event_id -> (key, decoded)."""
    decoder = EventDecoder(settings, family)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    found: dict[str, tuple[bytes, dict[str, Any]]] = {}
    try:
        consumer.assign(list(since))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        async with asyncio.timeout(timeout_s):
            while not event_ids <= found.keys():
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        decoded = await decoder.decode(record.value)
                        if str(decoded["event_id"]) in event_ids:
                            found[str(decoded["event_id"])] = (record.key, decoded)
    finally:
        await consumer.stop()
    return found
