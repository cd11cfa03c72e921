"""The Kafka gateway of the write path: Avro-encode a record and produce it durably.

One librdkafka producer per process (confluent-kafka: acks=all, idempotent, compressed,
lingering to batch), created with the app; it connects, and reconnects, by itself. A record
Kafka does not acknowledge within the timeout (`message.timeout.ms`, librdkafka's bound on
a record's whole life in the producer, retries included) comes back as DependencyUnavailable;
the caller must not report the event as accepted (a client retry with the same event_id is
harmless downstream).

Why librdkafka rather than aiokafka: on this machine it produces the same records with the
same guarantees about 6 times faster (docs/benchmarks.md, the raw producers), and in the
API's batch profile aiokafka's per-record Python (send, batching, the sender task) was a
quarter of the CPU. librdkafka sends from its own threads; its delivery reports are served
on the event loop (`poll(0)` every millisecond while requests wait for any), and each request
waits on one asyncio future, set once its last record is reported.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from schemas.codec import EventEncoder, SchemaNotRegistered
from ugc.errors import DependencyUnavailable
from ugc.events import Family, topic_name
from ugc.settings import Settings

log = logging.getLogger(__name__)
KAFKA = "kafka"
# How often delivery reports are served while requests wait for them: a fraction of the
# linger (records wait that long for their batch anyway), a few µs of CPU each time.
POLL_S = 0.001
UNACKNOWLEDGED = DependencyUnavailable(KAFKA, "not acknowledged within the produce timeout")


@dataclass(frozen=True)
class OutgoingEvent:
    family: Family
    key: bytes
    record: dict[str, Any]


def producer_config(settings: Settings) -> dict[str, Any]:
    """The producer configuration of the write path: durable, idempotent, batched, bounded."""
    timeout_ms = int(settings.produce_timeout_s * 1000)
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": "ugc-ingest",
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": settings.producer_compression or "none",
        "linger.ms": settings.producer_linger_ms,
        "batch.size": 256 * 1024,
        "message.timeout.ms": timeout_ms,
        "request.timeout.ms": timeout_ms,
        "retry.backoff.ms": 100,
        # Java's (and aiokafka's) partitioner for keyed records: a viewer's film stays on the
        # partition any other Kafka client would choose.
        "partitioner": "murmur2_random",
    }


class _Delivery:
    """The outcome of one request's records, from librdkafka's delivery reports (served on the
    event loop by `poll`). Every record is unacknowledged until its report says otherwise."""

    __slots__ = ("future", "outcomes", "queued", "reported")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        self.outcomes: list[DependencyUnavailable | None] = [UNACKNOWLEDGED] * count
        self.queued = -1  # not known until every record is queued
        self.reported = 0

    def report(self, index: int, error: KafkaError | None, message: Message) -> None:
        """librdkafka's delivery report of record `index`."""
        if error is None:
            self.outcomes[index] = None
        else:
            self.outcomes[index] = DependencyUnavailable(KAFKA, f"not acknowledged: {error.str()}")
        self.reported += 1
        if self.reported == self.queued:
            self._resolve()

    def all_queued(self, queued: int) -> None:
        """Once `queued` records are in librdkafka's queue."""
        self.queued = queued
        if self.reported == queued:
            self._resolve()

    def give_up(self) -> None:
        """The produce timeout passed: stop waiting (unreported records stay unacknowledged)."""
        self._resolve()

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class KafkaEventLog:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._encoder = EventEncoder(settings)
        self._producer: Producer | None = None
        self._waiting = 0  # requests waiting for delivery reports
        self._polling: asyncio.TimerHandle | None = None
        self._topics = {family: topic_name(settings, family) for family in Family}

    async def start(self) -> None:
        """Create the producer (it connects by itself); a registry that is down now is retried
        per request, a broker that is down is reported by readiness and per record."""
        self._producer = Producer(producer_config(self._settings))
        try:
            await self._encoder.resolve_all()
        except DependencyUnavailable as exc:
            log.warning("starting without %s: %s", exc.dependency, exc.reason)

    async def stop(self) -> None:
        """Deliver what was accepted for sending, within the produce timeout."""
        producer = self._producer
        if producer is None:
            return
        deadline = asyncio.get_running_loop().time() + self._settings.produce_timeout_s
        while len(producer) and asyncio.get_running_loop().time() < deadline:
            producer.poll(0)
            await asyncio.sleep(POLL_S)
        producer.poll(0)
        self._producer = None

    def _poll(self) -> None:
        """Serve delivery reports on the event loop while requests wait for them: no thread
        of our own contends with the loop for the GIL, and reports resolve futures directly."""
        self._polling = None
        if self._producer is not None:
            self._producer.poll(0)
        if self._waiting:
            self._polling = asyncio.get_running_loop().call_later(POLL_S, self._poll)

    def _live_producer(self) -> Producer:
        if self._producer is None:
            raise DependencyUnavailable(KAFKA, "the producer is not running")
        return self._producer

    async def publish(self, event: OutgoingEvent) -> None:
        (outcome,) = await self.publish_many([event])
        if outcome is not None:
            raise outcome

    async def publish_many(
        self, events: Sequence[OutgoingEvent]
    ) -> list[DependencyUnavailable | None]:
        """Produce all events; per event None once Kafka acknowledged it, else the error."""
        producer = self._live_producer()
        encoders = {f: await self._encoder.encoder_of(f) for f in {e.family for e in events}}
        payloads = [encoders[e.family](e.record) for e in events]
        delivery = _Delivery(asyncio.get_running_loop(), len(events))
        report, topics, outcomes = delivery.report, self._topics, delivery.outcomes
        queued = 0
        for index, (event, payload) in enumerate(zip(events, payloads, strict=True)):
            try:
                producer.produce(
                    topics[event.family], payload, event.key, on_delivery=partial(report, index)
                )
                queued += 1
            except (BufferError, KafkaException) as exc:  # queue full, or a fatal error
                outcomes[index] = DependencyUnavailable(KAFKA, f"not queued: {exc}")
        delivery.all_queued(queued)
        loop = asyncio.get_running_loop()
        self._waiting += 1
        if self._polling is None:
            self._polling = loop.call_later(POLL_S, self._poll)
        # librdkafka reports every record within message.timeout.ms; a little margin, after
        # which what was not reported stays unacknowledged. A timer, not asyncio.timeout():
        # the future is ours to resolve, nothing needs cancelling.
        bound = loop.call_later(self._settings.produce_timeout_s + 1, delivery.give_up)
        try:
            await delivery.future
        finally:
            bound.cancel()
            self._waiting -= 1
        return list(outcomes)

    async def ready(self) -> dict[str, str]:
        """Readiness of Kafka and the registry: 'ok' or the reason each is not."""
        checks: dict[str, str] = {}
        try:
            producer = self._live_producer()
            timeout_s = self._settings.registry_timeout_s
            await asyncio.to_thread(producer.list_topics, timeout=timeout_s)
            checks[KAFKA] = "ok"
        except (DependencyUnavailable, KafkaException) as exc:
            checks[KAFKA] = str(exc) or type(exc).__name__
        try:
            await self._encoder.ping()
            await self._encoder.resolve_all()
            checks["schema_registry"] = "ok"
        except (DependencyUnavailable, SchemaNotRegistered) as exc:
            checks["schema_registry"] = str(exc)
        return checks
