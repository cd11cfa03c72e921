"""`ugc dlq list | show | replay`: the parked messages, one in detail, and sending them back.

Replay sends a parked message to the partition of its source topic it came from (same key,
same value, so the same order per viewer and film as the rest of its key), with an idempotent
producer and acks=all, then marks it in the replay ledger (`infra.ops.replay_ledger`).
A message that is still poison is parked again by the raw-events worker, as a new message.
"""

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.ops.kafka import KafkaGateway, Outgoing
from infra.ops.lag import event_topics
from infra.ops.parked import Parked
from infra.ops.replay_ledger import ReplayLedger
from schemas.codec import EventDecoder
from ugc.events import DEAD_LETTER, RATINGS_BY_FILM, Family, topic_name
from ugc.settings import Settings

CHUNK = 100  # replayed, then marked: at most this many replayed again after a crash


@dataclass
class ReplayReport:
    matched: int = 0
    already_replayed: int = 0
    unreplayable: int = 0  # no known source topic in its headers
    replayed: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Described:
    parked: Parked
    schema_id: int | None
    record: dict[str, Any] | None  # None: it does not decode (see `error`)
    error: str | None


class DeadLetters:
    def __init__(self, kafka: KafkaGateway, settings: Settings) -> None:
        self._kafka = kafka
        self._settings = settings
        self.topic = topic_name(settings, DEAD_LETTER)
        self.ledger = ReplayLedger(kafka, settings)

    async def parked(self) -> AsyncIterator[Parked]:
        """Every parked message still retained, oldest first per partition."""
        partitions = await self._kafka.partitions([self.topic])
        starts = await self._kafka.start_offsets(partitions)
        ends = await self._kafka.end_offsets(partitions)
        for tp in partitions:
            async for record in self._kafka.read(tp, starts[tp], ends[tp]):
                yield Parked.of(record)

    async def listing(
        self, reason: str | None, topic: str | None, limit: int
    ) -> tuple[list[Parked], set[str]]:
        """The newest `limit` matching messages (oldest first) and the replayed ledger keys."""
        found = [p async for p in self.parked() if p.matches(reason, topic)]
        return found[-limit:] if limit else found, await self.ledger.replayed()

    async def get(self, partition: int, offset: int) -> Parked | None:
        for tp in await self._kafka.partitions([self.topic]):
            if tp.partition == partition:
                async for record in self._kafka.read(tp, offset, offset + 1):
                    return Parked.of(record)
        return None

    async def describe(self, parked: Parked) -> Described:
        value = parked.value or b""
        schema_id = struct.unpack(">I", value[1:5])[0] if len(value) >= 5 else None
        family = _families(self._settings).get(parked.source_topic)
        if family is None:
            return Described(parked, schema_id, None, "unknown source topic")
        try:
            async with asyncio.timeout(self._settings.registry_timeout_s * 2):
                record = await EventDecoder(self._settings, family).decode(value)
        except Exception as exc:
            return Described(parked, schema_id, None, f"{type(exc).__name__}: {exc}")
        return Described(parked, schema_id, record, None)

    async def replay(
        self,
        reason: str | None = None,
        topic: str | None = None,
        since: datetime | None = None,
        dry_run: bool = False,
        progress: Callable[[int], None] = lambda sent: None,
    ) -> ReplayReport:
        report = ReplayReport(dry_run=dry_run)
        done = await self.ledger.replayed()
        sources = set(event_topics(self._settings))
        todo: list[Parked] = []
        async for parked in self.parked():
            if not parked.matches(reason, topic, since):
                continue
            report.matched += 1
            if parked.ledger_key in done:
                report.already_replayed += 1
            elif parked.source_topic not in sources:
                report.unreplayable += 1
            else:
                todo.append(parked)
        for parked in todo:
            report.by_topic[parked.source_topic] = report.by_topic.get(parked.source_topic, 0) + 1
        if dry_run or not todo:
            return report
        await self.ledger.ensure()
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            sent = await self._kafka.send_all([_outgoing(p) for p in chunk])
            await self.ledger.record(list(zip(chunk, sent, strict=True)))
            report.replayed += len(chunk)
            progress(report.replayed)
        return report


def _outgoing(parked: Parked) -> Outgoing:
    return Outgoing(
        parked.source_topic,
        parked.source_partition,
        parked.key,
        parked.value,
        # Where it was parked, for whoever reads the source topic (the workers ignore it).
        [("ugc-replayed-from", parked.ledger_key.encode())],
    )


def _families(settings: Settings) -> dict[str, Family]:
    return {topic_name(settings, f): f for f in Family} | {
        topic_name(settings, RATINGS_BY_FILM): Family.RATINGS
    }
