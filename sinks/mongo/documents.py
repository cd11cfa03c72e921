"""MongoDB projections (Beanie documents) that the read API serves.

Every document carries the client timestamp of the change it reflects, so a late or replayed
event can be recognised and ignored (the newest change wins).
"""

from datetime import datetime
from uuid import UUID

from beanie import Document
from pymongo import ASCENDING, DESCENDING, IndexModel

USER_MOVIE_UNIQUE = IndexModel(
    [("user_id", ASCENDING), ("movie_id", ASCENDING)], unique=True, name="user_movie_unique"
)


class Progress(Document):
    """Where a viewer is in a film and how long they have watched it."""

    user_id: UUID
    movie_id: UUID
    position_ms: int = 0
    position_at: datetime | None = None  # client time of the position event that set it
    duration_ms: int | None = None
    watched_seconds: int = 0
    # Offset of the last viewing-time event added to watched_seconds (see projections.py).
    viewing_offset: int | None = None
    finished: bool = False
    updated_at: datetime

    class Settings:
        name = "progress"
        indexes = [
            USER_MOVIE_UNIQUE,
            IndexModel([("user_id", ASCENDING), ("updated_at", DESCENDING)], name="user_recent"),
        ]


class Favourite(Document):
    """A film in a viewer's favourites; removal keeps the document (active=False) as a tombstone."""

    user_id: UUID
    movie_id: UUID
    active: bool
    changed_at: datetime
    event_id: UUID | None = None  # breaks ties between changes with the same client time

    class Settings:
        name = "favourites"
        indexes = [
            USER_MOVIE_UNIQUE,
            IndexModel(
                [("user_id", ASCENDING), ("active", ASCENDING), ("changed_at", DESCENDING)],
                name="user_active_recent",
            ),
        ]


class UserRating(Document):
    """A viewer's current score for a film (None once removed, kept as a tombstone)."""

    user_id: UUID
    movie_id: UUID
    score: int | None
    changed_at: datetime
    event_id: UUID | None = None  # breaks ties between changes with the same client time

    class Settings:
        name = "user_ratings"
        indexes = [USER_MOVIE_UNIQUE]


class FilmRating(Document):
    """Sum and count of a film's current scores; the average is computed on read."""

    movie_id: UUID
    score_sum: int = 0
    score_count: int = 0
    updated_at: datetime

    class Settings:
        name = "film_ratings"
        indexes = [IndexModel([("movie_id", ASCENDING)], unique=True, name="movie_unique")]


DOCUMENT_MODELS: list[type[Document]] = [Progress, Favourite, UserRating, FilmRating]
