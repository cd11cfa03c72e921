"""Turning validated requests into events: ids, timestamps, the viewer, the Kafka key."""

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from ingest_api.gateways.event_log import KafkaEventLog, OutgoingEvent
from ingest_api.models import (
    EventIn,
    FavouriteIn,
    PlaybackEventIn,
    PositionIn,
    RatingIn,
    ViewingIn,
)
from ugc.errors import DependencyUnavailable
from ugc.events import Family
from ugc.settings import Settings

FAMILY_OF: dict[type[EventIn], Family] = {
    PlaybackEventIn: Family.PLAYBACK,
    PositionIn: Family.PLAYBACK,
    ViewingIn: Family.VIEWING,
    FavouriteIn: Family.FAVOURITES,
    RatingIn: Family.RATINGS,
}


class ClientTimeError(ValueError):
    """client_ts lies too far ahead (newest-wins projections would freeze on it) or too far
    behind (a broken clock or a replay; ClickHouse's DateTime64 cannot even hold year 1)."""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
DAY_MS = 86_400_000


def epoch_millis(moment: datetime) -> int:
    """Exact integer milliseconds (Avro timestamp-millis), without float rounding."""
    return (moment - EPOCH) // MILLISECOND


def new_event_ids(count: int) -> list[str]:
    """Random (version 4) UUIDs in their text form, from one os.urandom call: the version and
    variant bits set on the bytes, the text cut from one hex string (uuid.UUID per id cost
    more than validating the event)."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 4122 variant
    text = raw.hex()
    return [
        f"{text[i : i + 8]}-{text[i + 8 : i + 12]}-{text[i + 12 : i + 16]}-"
        f"{text[i + 16 : i + 20]}-{text[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


@dataclass(frozen=True, slots=True)
class Receipt:
    """Who sent a request, when it arrived, and which client times are accepted with it;
    shared by every event of that request."""

    user_id: str
    received_ms: int
    earliest_ms: int  # client_ts bounds, epoch ms: UGC_MAX_EVENT_AGE_DAYS behind the server
    latest_ms: int  # and UGC_MAX_CLOCK_SKEW_S ahead of it

    @classmethod
    def now(cls, user_id: UUID, settings: Settings) -> "Receipt":
        received_ms = time.time_ns() // 1_000_000
        return cls(
            str(user_id),
            received_ms,
            received_ms - settings.max_event_age_days * DAY_MS,
            received_ms + settings.max_clock_skew_s * 1000,
        )

    def client_ms(self, client_ts: datetime | None) -> int:
        """The event's client time in epoch ms; the arrival time when the client sent none."""
        if client_ts is None:
            return self.received_ms
        client_ms = epoch_millis(client_ts)
        if client_ms > self.latest_ms:
            ahead_s = (self.latest_ms - self.received_ms) // 1000
            raise ClientTimeError(f"more than {ahead_s}s ahead of the server clock")
        if client_ms < self.earliest_ms:
            behind_days = (self.received_ms - self.earliest_ms) // DAY_MS
            raise ClientTimeError(f"more than {behind_days} days in the past")
        return client_ms


class EventService:
    # main.py passes max_clock_skew_s; both client-time bounds now come with each request's
    # Receipt (from the settings), so the argument is accepted but not needed here.
    def __init__(self, event_log: KafkaEventLog) -> None:
        self._log = event_log

    def build(self, receipt: Receipt, body: EventIn, new_id: str) -> OutgoingEvent:
        """The Kafka record of one event; `new_id` is used when the client sent no event_id.

        Raises ClientTimeError when client_ts is outside the receipt's bounds."""
        movie_id = str(body.movie_id)
        record: dict[str, Any] = {
            "event_id": str(body.event_id) if body.event_id else new_id,
            "user_id": receipt.user_id,
            "movie_id": movie_id,
            "client_ts": receipt.client_ms(body.client_ts),
            "server_ts": receipt.received_ms,
            **_payload(body),
        }
        # One viewer's events about one film stay ordered on one partition.
        key = f"{receipt.user_id}:{movie_id}".encode()
        return OutgoingEvent(FAMILY_OF[type(body)], key, record)

    async def accept(self, receipt: Receipt, body: EventIn) -> str:
        event = self.build(receipt, body, new_event_ids(1)[0])
        await self._log.publish(event)
        return str(event.record["event_id"])

    async def accept_many(self, events: list[OutgoingEvent]) -> list[DependencyUnavailable | None]:
        return await self._log.publish_many(events)


def _payload(body: EventIn) -> dict[str, Any]:
    match body:
        case PlaybackEventIn():
            return {
                "action": body.action.value,
                "position_ms": body.position_ms,
                "from_position_ms": body.from_position_ms,
                "duration_ms": body.duration_ms,
            }
        case PositionIn():
            return {
                "action": "heartbeat",
                "position_ms": body.position_ms,
                "from_position_ms": None,
                "duration_ms": body.duration_ms,
            }
        case ViewingIn():
            session = str(body.session_id) if body.session_id else None
            return {"watched_seconds": body.watched_seconds, "session_id": session}
        case FavouriteIn():
            return {"action": body.action.value}
        case RatingIn():
            return {"score": body.score}
    raise TypeError(f"no event family for {type(body).__name__}")
