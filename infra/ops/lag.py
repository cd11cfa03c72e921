"""Consumer lag: per group and partition of the event topics, the end offset, the committed
offset and the difference (what the group has yet to acknowledge).

Faust commits, per partition, the offset below which every agent reading it acknowledged its
events, so a worker group's lag is its backlog. The two worker groups are always reported,
on every partition of the topics they subscribe to, committed or not; any other group only
where it committed offsets on an event topic. A partition a group never committed on is read from
its start (the workers' `auto.offset.reset` is earliest), so its lag is end - start.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import TopicPartition

from infra.ops.kafka import KafkaGateway
from streams.base import PROJECTIONS_GROUP, RAW_EVENTS_GROUP
from ugc.events import RATINGS_BY_FILM, Family, topic_name
from ugc.settings import Settings


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    end: int
    committed: int | None  # None: the group never committed on this partition
    lag: int


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    partitions: list[PartitionLag]

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


def event_topics(settings: Settings) -> list[str]:
    return [topic_name(settings, f) for f in (*Family, RATINGS_BY_FILM)]


def worker_topics(settings: Settings) -> dict[str, list[str]]:
    """What each worker group subscribes to (streams.app and streams.raw_app)."""
    families = [topic_name(settings, f) for f in Family]
    return {
        PROJECTIONS_GROUP: [*families, topic_name(settings, RATINGS_BY_FILM)],
        RAW_EVENTS_GROUP: families,
    }


def lag_of(end: int, committed: int | None, start: int) -> int:
    # Retention may have deleted what a group never read: it cannot read below `start`.
    return max(end - max(committed if committed is not None else start, start), 0)


async def partition_lags(
    kafka: KafkaGateway, group: str, partitions: Sequence[TopicPartition]
) -> list[PartitionLag]:
    """The group's lag on these partitions (the worker's gauge: its assigned ones)."""
    if not partitions:
        return []
    ends = await kafka.end_offsets(partitions)
    starts = await kafka.start_offsets(partitions)
    committed = await kafka.committed(group, partitions)
    return [
        PartitionLag(
            tp.topic,
            tp.partition,
            ends[tp],
            committed.get(tp),
            lag_of(ends[tp], committed.get(tp), starts[tp]),
        )
        for tp in sorted(partitions)
    ]


async def measure(
    kafka: KafkaGateway, settings: Settings, only: Iterable[str] = ()
) -> list[GroupLag]:
    """Every group consuming the event topics (or only the named ones), sorted by name."""
    topics = event_topics(settings)
    every = await kafka.partitions(topics)
    by_topic: dict[str, list[TopicPartition]] = {}
    for tp in every:
        by_topic.setdefault(tp.topic, []).append(tp)
    workers = worker_topics(settings)
    wanted = set(only)
    groups = wanted or (set(await kafka.groups()) | set(workers))
    found = []
    for group in sorted(groups):
        if group in workers:  # what it subscribes to (an offset committed elsewhere is stale)
            partitions = [tp for t in workers[group] for tp in by_topic.get(t, [])]
        else:  # one request for everything it committed; the event topics' partitions
            partitions = sorted(tp for tp in await kafka.committed(group) if tp.topic in by_topic)
        if not partitions and group not in wanted:
            continue  # consumes something else (a test's reader of the dead letters...)
        found.append(GroupLag(group, await partition_lags(kafka, group, partitions)))
    return found


async def measure_now(settings: Settings, only: Iterable[str] = ()) -> list[GroupLag]:
    async with KafkaGateway(settings) as kafka:
        return await measure(kafka, settings, only)
