"""What `ugc dlq replay` already sent back: a compacted topic keyed by the dead-letter
partition:offset of each replayed message.

Why a topic of markers rather than a consumer group's committed offset: a replay is filtered
(by reason, source topic, time), so what was replayed is not a prefix of the dead-letter
topic; an offset would skip the messages left for a later fix. A marker per message says
exactly which were sent, lives in Kafka next to the data (no local file a second operator
would not see), and compaction keeps one marker per message; its retention follows the
dead-letter topic's, so markers outlive the messages they name.

Crash safety: markers are written only after Kafka acknowledged the replayed records, so a
crash in between replays that chunk again on the next run, never loses it; the sinks are
idempotent by event id, so those few events still count once downstream.
"""

import json
import time
from collections.abc import Sequence

from infra.ops.kafka import Delivered, KafkaGateway, Outgoing
from infra.ops.parked import Parked
from ugc.events import DEAD_LETTER, topic_name
from ugc.settings import Settings

LEDGER = f"{DEAD_LETTER}-replayed"


class ReplayLedger:
    def __init__(self, kafka: KafkaGateway, settings: Settings) -> None:
        self._kafka = kafka
        self._settings = settings
        self.topic = topic_name(settings, LEDGER)

    async def replayed(self) -> set[str]:
        """The ledger keys of every message replayed so far (empty before the first replay)."""
        keys: set[str] = set()
        partitions = await self._kafka.partitions([self.topic])
        starts = await self._kafka.start_offsets(partitions)
        ends = await self._kafka.end_offsets(partitions)
        for tp in partitions:
            async for record in self._kafka.read(tp, starts[tp], ends[tp]):
                if record.key is not None:
                    keys.add(record.key.decode())
        return keys

    async def ensure(self) -> None:
        settings = self._settings
        await self._kafka.ensure_topic(
            self.topic,
            settings.kafka_replication_factor,
            {
                "cleanup.policy": "compact,delete",
                "retention.ms": str(settings.kafka_dead_letter_retention_ms),
                "min.insync.replicas": str(settings.kafka_min_insync_replicas),
            },
        )

    async def record(self, replayed: Sequence[tuple[Parked, Delivered]]) -> None:
        now = int(time.time() * 1000)
        await self._kafka.send_all(
            [
                Outgoing(
                    self.topic,
                    0,
                    parked.ledger_key.encode(),
                    json.dumps(
                        {
                            "replayed_at": now,
                            "reason": parked.reason,
                            "to": f"{sent.topic}[{sent.partition}]@{sent.offset}",
                        }
                    ).encode(),
                    [],
                )
                for parked, sent in replayed
            ]
        )
