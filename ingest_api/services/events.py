"""Turning validated requests into events: ids, timestamps, the viewer, the Kafka key."""

import os
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

FAMILY_OF: dict[type[EventIn], Family] = {
    PlaybackEventIn: Family.PLAYBACK,
    PositionIn: Family.PLAYBACK,
    ViewingIn: Family.VIEWING,
    FavouriteIn: Family.FAVOURITES,
    RatingIn: Family.RATINGS,
}


class ClockSkewError(ValueError):
    """client_ts lies too far in the future: newest-wins projections would freeze on it."""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def epoch_millis(moment: datetime) -> int:
    """Exact integer milliseconds (Avro timestamp-millis), without float rounding."""
    return (moment - EPOCH) // MILLISECOND


def new_event_ids(count: int) -> list[str]:
    """Random (version 4) UUIDs from one os.urandom call rather than one call per id."""
    raw = os.urandom(16 * count)
    return [str(UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, 16 * count, 16)]


@dataclass(frozen=True, slots=True)
class Receipt:
    """Who sent a request and when it arrived; shared by every event of that request."""

    user_id: str
    received: datetime
    received_ms: int

    @classmethod
    def now(cls, user_id: UUID) -> "Receipt":
        received = datetime.now(UTC)
        return cls(str(user_id), received, epoch_millis(received))


class EventService:
    def __init__(self, event_log: KafkaEventLog, max_clock_skew_s: int) -> None:
        self._log = event_log
        self._max_skew = timedelta(seconds=max_clock_skew_s)

    def build(self, receipt: Receipt, body: EventIn, new_id: str) -> OutgoingEvent:
        """The Kafka record of one event; `new_id` is used when the client sent no event_id."""
        if body.client_ts is None:
            client_ms = receipt.received_ms
        elif body.client_ts - receipt.received > self._max_skew:
            raise ClockSkewError(
                f"client_ts is more than {self._max_skew.seconds}s ahead of the server clock"
            )
        else:
            client_ms = epoch_millis(body.client_ts)
        movie_id = str(body.movie_id)
        record: dict[str, Any] = {
            "event_id": str(body.event_id) if body.event_id else new_id,
            "user_id": receipt.user_id,
            "movie_id": movie_id,
            "client_ts": client_ms,
            "server_ts": receipt.received_ms,
            **_payload(body),
        }
        # One viewer's events about one film stay ordered on one partition.
        key = f"{receipt.user_id}:{movie_id}".encode()
        return OutgoingEvent(FAMILY_OF[type(body)], key, record)

    async def accept(self, user_id: UUID, body: EventIn) -> str:
        event = self.build(Receipt.now(user_id), body, new_event_ids(1)[0])
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
