"""Turning validated requests into events: ids, timestamps, the viewer, the Kafka key."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

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


class EventService:
    def __init__(self, event_log: KafkaEventLog, max_clock_skew_s: int) -> None:
        self._log = event_log
        self._max_skew = timedelta(seconds=max_clock_skew_s)

    def build(self, user_id: UUID, body: EventIn, received: datetime) -> OutgoingEvent:
        client_ts = body.client_ts or received
        if client_ts - received > self._max_skew:
            raise ClockSkewError(
                f"client_ts is more than {self._max_skew.seconds}s ahead of the server clock"
            )
        record: dict[str, Any] = {
            "event_id": str(body.event_id or uuid4()),
            "user_id": str(user_id),
            "movie_id": str(body.movie_id),
            "client_ts": client_ts,
            "server_ts": received,
            **_payload(body),
        }
        # One viewer's events about one film stay ordered on one partition.
        key = f"{user_id}:{body.movie_id}".encode()
        return OutgoingEvent(FAMILY_OF[type(body)], key, record)

    async def accept(self, user_id: UUID, body: EventIn) -> UUID:
        event = self.build(user_id, body, datetime.now(UTC))
        await self._log.publish(event)
        return UUID(event.record["event_id"])

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
