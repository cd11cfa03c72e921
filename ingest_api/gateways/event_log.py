"""The Kafka gateway of the write path: Avro-encode a record and produce it durably.

One producer per process (acks=all, idempotent, compressed, lingering to batch), started with
the app and restarted lazily when the broker was away at start-up. A send that Kafka does not
acknowledge within the timeout raises DependencyUnavailable; the caller must not report the
event as accepted (a client retry with the same event_id is harmless downstream).
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ingest_api.gateways.partitioner import fast_default_partitioner
from schemas.codec import EventEncoder, SchemaNotRegistered
from ugc.errors import DependencyUnavailable
from ugc.events import Family, topic_name
from ugc.settings import Settings

log = logging.getLogger(__name__)
KAFKA = "kafka"


@dataclass(frozen=True)
class OutgoingEvent:
    family: Family
    key: bytes
    record: dict[str, Any]


def new_producer(settings: Settings) -> AIOKafkaProducer:
    """The producer configuration of the write path: durable, idempotent, batched, bounded."""
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


class KafkaEventLog:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._encoder = EventEncoder(settings)
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._topics = {family: topic_name(settings, family) for family in Family}

    async def start(self) -> None:
        """Connect if possible; a broker or registry that is down now is retried per request."""
        try:
            await self._ensure_producer()
            await self._encoder.resolve_all()
        except DependencyUnavailable as exc:
            log.warning("starting without %s: %s", exc.dependency, exc.reason)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = new_producer(self._settings)
                try:
                    async with asyncio.timeout(self._settings.produce_timeout_s):
                        await producer.start()
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise DependencyUnavailable(KAFKA, f"{type(exc).__name__}: {exc}") from exc
                self._producer = producer
        return self._producer

    async def publish(self, event: OutgoingEvent) -> None:
        (outcome,) = await self.publish_many([event])
        if outcome is not None:
            raise outcome

    async def publish_many(
        self, events: Sequence[OutgoingEvent]
    ) -> list[DependencyUnavailable | None]:
        """Produce all events; per event None once Kafka acknowledged it, else the error."""
        producer = await self._ensure_producer()
        payloads = [await self._encoder.encode(e.family, e.record) for e in events]
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                futures = [
                    await producer.send(self._topics[e.family], payload, key=e.key)
                    for e, payload in zip(events, payloads, strict=True)
                ]
                results = await asyncio.gather(*futures, return_exceptions=True)
        except (KafkaError, TimeoutError) as exc:
            error = DependencyUnavailable(KAFKA, f"not acknowledged: {type(exc).__name__}")
            return [error] * len(events)
        return [
            DependencyUnavailable(KAFKA, f"{type(r).__name__}: {r}")
            if isinstance(r, BaseException)
            else None
            for r in results
        ]

    async def ready(self) -> dict[str, str]:
        """Readiness of Kafka and the registry: 'ok' or the reason each is not."""
        checks: dict[str, str] = {}
        try:
            producer = await self._ensure_producer()
            async with asyncio.timeout(self._settings.registry_timeout_s):
                await producer.client.fetch_all_metadata()
            checks[KAFKA] = "ok"
        except (DependencyUnavailable, KafkaError, TimeoutError) as exc:
            checks[KAFKA] = str(exc) or type(exc).__name__
        try:
            await self._encoder.ping()
            await self._encoder.resolve_all()
            checks["schema_registry"] = "ok"
        except (DependencyUnavailable, SchemaNotRegistered) as exc:
            checks["schema_registry"] = str(exc)
        return checks
