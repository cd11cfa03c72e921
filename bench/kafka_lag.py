"""Consumer lag of the Faust workers' groups on the event topics, and skipping what they left.

Faust commits, per partition, the offset below which every agent reading that partition has
acknowledged its events, so a group's lag (end offset - committed offset) is its backlog; the
pipeline's lag is the sum over the projections group and the raw-events group.
"""

import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.base import PROJECTIONS_GROUP, RAW_EVENTS_GROUP
from ugc.events import RATINGS_BY_FILM, Family, topic_name, topic_specs
from ugc.settings import Settings

GROUPS = (PROJECTIONS_GROUP, RAW_EVENTS_GROUP)  # Faust app ids, which are the consumer groups


def event_partitions(settings: Settings) -> list[TopicPartition]:
    """Every partition of the topics the worker consumes (the dead-letter topic it only writes)."""
    consumed = {topic_name(settings, f) for f in (*Family, RATINGS_BY_FILM)}
    return [
        TopicPartition(spec.name, partition)
        for spec in topic_specs(settings)
        if spec.name in consumed
        for partition in range(spec.partitions)
    ]


@dataclass(frozen=True)
class LagSample:
    at: float  # epoch seconds
    lag: int  # events of the event topics not yet committed by the group


class LagProbe:
    """Reads the group's committed offsets and the topics' end offsets; one client each."""

    def __init__(self, settings: Settings) -> None:
        self._partitions = event_partitions(settings)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)

    async def __aenter__(self) -> "LagProbe":
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def sample(self) -> LagSample:
        ends = await self._consumer.end_offsets(self._partitions)
        lag = 0
        for group in GROUPS:
            committed = await self._admin.list_consumer_group_offsets(
                group, partitions=self._partitions
            )
            for tp, end in ends.items():
                done = committed.get(tp)
                lag += end - max(done.offset if done else 0, 0)
        return LagSample(time.time(), lag)


async def wait_group_empty(settings: Settings, group: str, timeout_s: float = 90.0) -> None:
    """A stopped worker leaves the group at once; a killed one only when its session expires."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            described = await admin.describe_consumer_groups([group])
            state = described[0].groups[0][2]
            if state in ("Empty", "Dead") or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    finally:
        await admin.close()
    if state not in ("Empty", "Dead"):
        raise RuntimeError(f"consumer group {group} still {state} after {timeout_s:g}s")


async def skip_to_end(settings: Settings) -> int:
    """Commit the end of every event partition for both groups (their workers must be
    stopped), so new workers start with nothing left over; returns how many events were
    skipped."""
    skipped = 0
    partitions = event_partitions(settings)
    for group in GROUPS:
        await wait_group_empty(settings, group)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            before = {tp: await consumer.committed(tp) for tp in partitions}
            await consumer.commit(dict(ends))
        finally:
            await consumer.stop()
        skipped += sum(end - (before[tp] or 0) for tp, end in ends.items())
    return skipped
