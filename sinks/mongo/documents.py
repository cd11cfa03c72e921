"""MongoDB projections (Beanie documents) that the read API serves.

Ids are stored as text, and each document's `_id` is its natural key ("user:movie", or the
film): every write and single-document read is an equality on `_id`, which the local FerretDB
pushes down to PostgreSQL, where `ugc init` indexes it (sinks/mongo/postgres.py, with
`user_id` for the per-viewer lists; FerretDB does not push binary UUIDs down at all). Every
document carries the client time (and event id) of the change it reflects, so a late or
replayed event is recognised and ignored (the newest change wins).
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from beanie import Document
from pydantic import BeforeValidator, model_validator
from pymongo import ASCENDING, DESCENDING, IndexModel

# A UUID kept as its canonical text; UUID objects are accepted and converted.
UuidText = Annotated[str, BeforeValidator(lambda value: str(value))]


def viewer_film_key(user_id: UUID | str, movie_id: UUID | str) -> str:
    return f"{user_id}:{movie_id}"


def _keyed_by_viewer_film(document: Any) -> Any:
    if document.id is None:
        document.id = viewer_film_key(document.user_id, document.movie_id)
    return document


class Progress(Document):
    """Where a viewer is in a film and how long they have watched it."""

    id: str | None = None  # type: ignore[assignment]  # viewer_film_key
    user_id: UuidText
    movie_id: UuidText
    position_ms: int = 0
    position_at: datetime | None = None  # client time of the position event that set it
    duration_ms: int | None = None
    watched_seconds: int = 0
    # Offset of the last viewing-time event added to watched_seconds (see projections.py).
    viewing_offset: int | None = None
    finished: bool = False
    updated_at: datetime

    _keyed = model_validator(mode="after")(_keyed_by_viewer_film)

    class Settings:
        name = "progress"
        indexes = [
            IndexModel([("user_id", ASCENDING), ("updated_at", DESCENDING)], name="user_recent"),
        ]


class Favourite(Document):
    """A film in a viewer's favourites; removal keeps the document (active=False) as a tombstone."""

    id: str | None = None  # type: ignore[assignment]  # viewer_film_key
    user_id: UuidText
    movie_id: UuidText
    active: bool
    changed_at: datetime
    event_id: UuidText | None = None  # breaks ties between changes with the same client time

    _keyed = model_validator(mode="after")(_keyed_by_viewer_film)

    class Settings:
        name = "favourites"
        indexes = [
            IndexModel(
                [("user_id", ASCENDING), ("active", ASCENDING), ("changed_at", DESCENDING)],
                name="user_active_recent",
            ),
        ]


class UserRating(Document):
    """A viewer's current score for a film (None once removed, kept as a tombstone)."""

    id: str | None = None  # type: ignore[assignment]  # viewer_film_key
    user_id: UuidText
    movie_id: UuidText
    score: int | None
    changed_at: datetime
    event_id: UuidText | None = None  # breaks ties between changes with the same client time

    _keyed = model_validator(mode="after")(_keyed_by_viewer_film)

    class Settings:
        name = "user_ratings"
        indexes = [IndexModel([("user_id", ASCENDING)], name="user")]


class FilmRating(Document):
    """Sum and count of a film's current scores; the average is computed on read."""

    id: str | None = None  # type: ignore[assignment]  # the film
    movie_id: UuidText
    score_sum: int = 0
    score_count: int = 0
    updated_at: datetime

    @model_validator(mode="after")
    def _keyed(self) -> "FilmRating":
        if self.id is None:
            self.id = self.movie_id
        return self

    class Settings:
        name = "film_ratings"
        indexes: list[IndexModel] = []


class ErasureRequest(Document):
    """A viewer's erasure (GDPR) and the parts it waits for (ugc/erasure.py)."""

    id: str | None = None  # type: ignore[assignment]  # the erasure id
    user_id: UuidText
    requested_at: datetime
    expected: list[str]
    failed: str | None = None  # why its markers were not all written: it never completes

    class Settings:
        name = "erasures"
        indexes: list[IndexModel] = []


class ErasurePart(Document):
    """One part of an erasure, done. A document each, not a list in the request: the workers
    report at the same time, and the local FerretDB rewrites a whole document per update (two
    updates of one document at once lose one)."""

    id: str | None = None  # type: ignore[assignment]  # "<erasure id> <part>"
    erasure_id: str
    part: str

    class Settings:
        name = "erasure_parts"
        indexes = [IndexModel([("erasure_id", ASCENDING)], name="erasure")]


DOCUMENT_MODELS: list[type[Document]] = [
    Progress,
    Favourite,
    UserRating,
    FilmRating,
    ErasureRequest,
    ErasurePart,
]
