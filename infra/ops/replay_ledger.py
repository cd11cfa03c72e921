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
from ugc.events import DEAD_LETTER_REPLAYED, topic_name, topic_specs
from ugc.settings import Settings


class ReplayLedger:
    def __init__(self, kafka: KafkaGateway, settings: Settings) -> None:
        self._kafka = kafka
        self._settings = settings
        self.topic = topic_name(settings, DEAD_LETTER_REPLAYED)

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
        """`ugc init` creates the ledger; a stack initialised before it existed gets it here."""
        spec = next(s for s in topic_specs(self._settings) if s.name == self.topic)
        await self._kafka.ensure_topic(spec.name, spec.replication_factor, spec.config)

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
