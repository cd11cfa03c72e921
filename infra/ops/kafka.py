"""The operators' Kafka gateway: offsets, consumer groups, reading a partition range and
producing back, with aiokafka (the workers' client too, so `ugc lag` and a worker's gauge
measure alike).

One admin client and one group-less consumer per gateway; the producer (idempotent,
acks=all) only once something is sent.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError

from ugc.settings import Settings

REQUEST_TIMEOUT_MS = 10_000
COORDINATOR_TRIES = 10  # a fresh broker creates __consumer_offsets on the first group lookup
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    partition: int | None  # None: the key decides (murmur2, as every producer of ours)
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True, slots=True)
class Delivered:
    topic: str
    partition: int
    offset: int


class KafkaGateway:
    def __init__(self, settings: Settings) -> None:
        self._bootstrap = settings.kafka_bootstrap
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
        )
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> "KafkaGateway":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        try:
            await self._admin.start()
            await self._consumer.start()
        except BaseException:
            await self.close()  # nothing left half-open (aiokafka warns of unclosed clients)
            raise

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        await self._consumer.stop()
        await self._admin.close()

    # --- offsets and groups ---

    async def partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        """Every partition of the topics that exist (a missing topic has none)."""
        existing = set(await self._admin.list_topics())
        wanted = [t for t in topics if t in existing]
        if not wanted:
            return []
        described = await self._admin.describe_topics(wanted)
        return sorted(
            TopicPartition(topic["topic"], part["partition"])
            for topic in described
            if not topic["error_code"]
            for part in topic["partitions"]
        )

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        return dict(await self._consumer.end_offsets(list(partitions)))

    async def start_offsets(
        self, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        return dict(await self._consumer.beginning_offsets(list(partitions)))

    async def groups(self) -> list[str]:
        return sorted({group[0] for group in await self._admin.list_consumer_groups()})

    async def committed(
        self, group: str, partitions: Sequence[TopicPartition] | None = None
    ) -> dict[TopicPartition, int]:
        """The group's committed offsets (the next offset it will read); none: left out."""
        for attempt in range(COORDINATOR_TRIES):
            try:
                found = await self._admin.list_consumer_group_offsets(
                    group, partitions=list(partitions) if partitions else None
                )
                break
            except (CoordinatorNotAvailableError, CoordinatorLoadInProgressError):
                if attempt == COORDINATOR_TRIES - 1:
                    raise
                await asyncio.sleep(0.5)
        return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}

    # --- reading and writing records ---

    async def read(self, tp: TopicPartition, start: int, end: int) -> AsyncIterator[ConsumerRecord]:
        """Records of one partition from `start` up to (not including) `end`."""
        if start >= end:
            return
        self._consumer.assign([tp])
        self._consumer.seek(tp, start)
        while await self._consumer.position(tp) < end:
            batch = await self._consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                if record.offset >= end:
                    return
                yield record

    async def ensure_topic(self, name: str, replication: int, config: dict[str, str]) -> None:
        if name in set(await self._admin.list_topics()):
            return
        await self._admin.create_topics(
            [NewTopic(name, 1, replication, topic_configs=config)],
            timeout_ms=REQUEST_TIMEOUT_MS,
        )

    async def send_all(self, records: Sequence[Outgoing]) -> list[Delivered]:
        """Send in order and wait until Kafka acknowledged every one (acks=all, idempotent:
        a retried send is never written twice)."""
        producer = await self._producer_started()
        pending = [
            await producer.send(
                r.topic, r.value, key=r.key, partition=r.partition, headers=r.headers
            )
            for r in records
        ]
        delivered = []
        for future in pending:
            meta = await future
            delivered.append(Delivered(meta.topic, meta.partition, meta.offset))
        return delivered

    async def _producer_started(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=REQUEST_TIMEOUT_MS,
            )
            await self._producer.start()
        return self._producer
