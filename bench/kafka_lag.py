"""Consumer lag of the Faust workers' groups on the event topics, and skipping what they left.

The lag is `infra.ops.lag`'s (what `ugc lag` prints): per group, end offset - committed offset
on the partitions of the topics it subscribes to; the pipeline's lag is the sum over the
projections group and the raw-events group.
"""

import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from infra.ops.kafka import KafkaGateway
from infra.ops.lag import partition_lags, worker_topics
from ugc.events import topic_specs
from ugc.settings import Settings


def group_partitions(settings: Settings) -> dict[str, list[TopicPartition]]:
    """Per worker group, every partition of the topics it subscribes to (the raw-events group
    does not read the ratings re-keyed by film)."""
    partitions = {spec.name: spec.partitions for spec in topic_specs(settings)}
    return {
        group: [TopicPartition(t, p) for t in topics for p in range(partitions[t])]
        for group, topics in worker_topics(settings).items()
    }


@dataclass(frozen=True)
class LagSample:
    at: float  # epoch seconds
    groups: dict[str, int]  # per group: events of its topics it has not committed yet

    @property
    def lag(self) -> int:
        return sum(self.groups.values())


class LagProbe:
    """Reads the groups' committed offsets and the topics' end offsets over one gateway."""

    def __init__(self, settings: Settings) -> None:
        self._partitions = group_partitions(settings)
        self._kafka = KafkaGateway(settings)

    async def __aenter__(self) -> "LagProbe":
        await self._kafka.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._kafka.close()

    async def sample(self) -> LagSample:
        groups = {}
        for group, partitions in self._partitions.items():
            groups[group] = sum(p.lag for p in await partition_lags(self._kafka, group, partitions))
        return LagSample(time.time(), groups)


async def wait_group_empty(settings: Settings, group: str, timeout_s: float = 90.0) -> None:
    """A stopped worker leaves the group at once; a killed one only when its session expires."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                described = await admin.describe_consumer_groups([group])
                state = described[0].groups[0][2]
            except GroupCoordinatorNotAvailableError:  # a new broker creates the offsets topic
                state = "no coordinator yet"
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
    for group, partitions in group_partitions(settings).items():
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
