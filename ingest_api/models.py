"""Request and response bodies of the ingest API.

Bodies never carry the viewer: `user_id` comes from the token. `event_id` is optional; a client
that retries sends the same one, so the event counts once downstream.
"""

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class PlaybackAction(StrEnum):
    PLAY = "play"
    PAUSE = "pause"
    SEEK_FORWARD = "seek_forward"
    SEEK_BACKWARD = "seek_backward"
    STOP = "stop"


class FavouriteAction(StrEnum):
    ADDED = "added"
    REMOVED = "removed"


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: UUID | None = Field(
        default=None,
        description="Set it to make retries idempotent; the server makes one if absent.",
    )
    movie_id: UUID
    client_ts: AwareDatetime | None = Field(
        default=None,
        description="When it happened on the client (ISO 8601 with a zone); "
        "defaults to the time the server received it.",
    )


class PlaybackEventIn(EventIn):
    type: Literal["playback"] = "playback"
    action: PlaybackAction
    position_ms: int = Field(ge=0, description="Position after the action, ms from the start.")
    from_position_ms: int | None = Field(default=None, ge=0, description="For seeks: before.")
    duration_ms: int | None = Field(default=None, gt=0, description="Length of the film, ms.")

    @model_validator(mode="after")
    def _seek_direction(self) -> "PlaybackEventIn":
        if self.from_position_ms is None:
            return self
        if self.action == PlaybackAction.SEEK_FORWARD and self.position_ms < self.from_position_ms:
            raise ValueError("seek_forward must not end before from_position_ms")
        if self.action == PlaybackAction.SEEK_BACKWARD and self.position_ms > self.from_position_ms:
            raise ValueError("seek_backward must not end after from_position_ms")
        return self


class PositionIn(EventIn):
    """A heartbeat: where the player is now (the resume point)."""

    type: Literal["position"] = "position"
    position_ms: int = Field(ge=0)
    duration_ms: int | None = Field(default=None, gt=0)


class ViewingIn(EventIn):
    type: Literal["viewing"] = "viewing"
    watched_seconds: int = Field(gt=0, le=86_400, description="Seconds watched, pauses excluded.")
    session_id: UUID | None = None


class FavouriteIn(EventIn):
    type: Literal["favourite"] = "favourite"
    action: FavouriteAction


class RatingIn(EventIn):
    type: Literal["rating"] = "rating"
    score: int | None = Field(ge=0, le=10, description="0 to 10; null removes the rating.")


AnyEventIn = Annotated[
    PlaybackEventIn | PositionIn | ViewingIn | FavouriteIn | RatingIn,
    Field(discriminator="type"),
]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, object]] = Field(
        min_length=1,
        description="Events of any type, each with a `type` field: "
        "playback, position, viewing, favourite or rating.",
    )


class Accepted(BaseModel):
    event_id: UUID
    status: Literal["accepted"] = "accepted"


class ItemResult(BaseModel):
    index: int
    status: int = Field(description="202 accepted, 422 invalid, 503 not stored (retry).")
    event_id: UUID | None = None
    error: str | None = None


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    results: list[ItemResult]


class ErrorBody(BaseModel):
    detail: str
    errors: list[dict[str, object]] | None = None
