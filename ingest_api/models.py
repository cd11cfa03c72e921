"""Request and response bodies of the ingest API.

Bodies never carry the viewer: `user_id` comes from the token. `event_id` is optional; a client
that retries sends the same one, so the event counts once downstream.
"""

import re
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Integers are JSON integers: pydantic's lax mode would read true as 1, "5" and 5.0 as 5.
# Strict per field, not per model, so that UUIDs and enums are still read from their JSON
# strings, in a JSON body as in the batch's dicts (validate_python).
StrictInt = Annotated[int, Strict()]

# A position in, or the length of, a film, in ms: at most 7 days. Physically generous (the
# longest films run about a day), and far inside what every store holds (Avro long, MongoDB
# int64, ClickHouse Int64), so a number that is valid here never overflows downstream.
MAX_MEDIA_MS = 7 * 24 * 3600 * 1000
MediaMs = Annotated[int, Strict(), Field(ge=0, le=MAX_MEDIA_MS)]

# RFC 3339 (the OpenAPI `date-time`) with a zone. Checked on the text first: pydantic would
# also read numbers, and digits in a string, as Unix time ("client_ts": 0 was 1970).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def _date_time_text(value: object) -> object:
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise PydanticCustomError(
        "date_time_text",
        "Input should be an RFC 3339 date-time string with a zone, e.g. 2026-11-01T12:00:00Z",
    )


DateTimeText = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


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
    client_ts: DateTimeText | None = Field(
        default=None,
        description="When it happened on the client (RFC 3339 with a zone); defaults to the "
        "time the server received it. At most `UGC_MAX_CLOCK_SKEW_S` ahead of the server clock "
        "and `UGC_MAX_EVENT_AGE_DAYS` behind it.",
    )


class PlaybackEventIn(EventIn):
    type: Literal["playback"] = "playback"
    action: PlaybackAction
    position_ms: MediaMs = Field(description="Position after the action, ms from the start.")
    from_position_ms: MediaMs | None = Field(default=None, description="For seeks: before.")
    duration_ms: MediaMs | None = Field(default=None, gt=0, description="Length of the film, ms.")

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
    position_ms: MediaMs = Field(description="Where the player is, ms from the start.")
    duration_ms: MediaMs | None = Field(default=None, gt=0, description="Length of the film, ms.")


class ViewingIn(EventIn):
    type: Literal["viewing"] = "viewing"
    watched_seconds: StrictInt = Field(
        gt=0, le=86_400, description="Seconds watched, pauses excluded."
    )
    session_id: UUID | None = None


class FavouriteIn(EventIn):
    type: Literal["favourite"] = "favourite"
    action: FavouriteAction


class RatingIn(EventIn):
    type: Literal["rating"] = "rating"
    score: StrictInt | None = Field(ge=0, le=10, description="0 to 10; null removes the rating.")


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


class BatchFailure(BatchResult):
    """No event of the batch was accepted: `detail` says why, each result says which."""

    detail: str


class FieldError(BaseModel):
    field: str = Field(description="Where, e.g. `body.position_ms` or `query.offset`.")
    message: str
    type: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="With 422: one entry per invalid field."
    )


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="Each dependency: `ok` or why it is not.")
