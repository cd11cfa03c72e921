"""A message parked in the dead-letter topic, as the raw-events worker left it there
(`streams.messages.dead_letter`: same key and value, why and whence in `ugc-dlq-*` headers)."""

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import ConsumerRecord


@dataclass(frozen=True, slots=True)
class Parked:
    partition: int  # where it sits in the dead-letter topic
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp_ms: int  # the dead-letter record's own time

    @classmethod
    def of(cls, record: ConsumerRecord) -> "Parked":
        return cls(
            record.partition,
            record.offset,
            record.key,
            record.value,
            {name: value for name, value in record.headers or ()},
            record.timestamp,
        )

    def header(self, name: str) -> str:
        return self.headers.get(f"ugc-dlq-{name}", b"").decode(errors="replace")

    @property
    def reason(self) -> str:
        return self.header("reason")

    @property
    def detail(self) -> str:
        return self.header("detail")

    @property
    def source_topic(self) -> str:
        return self.header("topic")

    @property
    def source_partition(self) -> int | None:
        return _int(self.header("partition"))

    @property
    def source_offset(self) -> int | None:
        return _int(self.header("offset"))

    @property
    def parked_at(self) -> datetime:
        millis = _int(self.header("at"))
        return datetime.fromtimestamp((millis or self.timestamp_ms) / 1000, UTC)

    @property
    def ledger_key(self) -> str:
        """Names this parked message for good: the dead-letter partition and offset."""
        return f"{self.partition}:{self.offset}"

    def matches(
        self, reason: str | None = None, topic: str | None = None, since: datetime | None = None
    ) -> bool:
        return (
            (reason is None or self.reason == reason)
            and (topic is None or self.source_topic == topic)
            and (since is None or self.parked_at >= since)
        )


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
