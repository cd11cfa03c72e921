"""MongoDB side of erasing a viewer (GDPR): the erasure requests, and the projection documents
a marker erases.

The workers erase, per marker, the viewer's documents of the films whose events came from the
marker's partition (the caller picks those films): filters start with `user_id`, which the
local FerretDB pushes down to its index, and narrow to the films' `_id`s. Every operation sets
or deletes, so it is safe to repeat when a marker is redelivered.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from sinks.mongo import conflicts
from sinks.mongo.documents import (
    ErasurePart,
    ErasureRequest,
    Favourite,
    Progress,
    UserRating,
    viewer_film_key,
)
from sinks.mongo.reads import _bounded  # the read gateway's deadline: 503 when MongoDB is away

# What a playback marker erases in `progress`; watch time is the viewing marker's.
POSITION_FIELDS = {"position_at": "", "position_event_id": "", "duration_ms": ""}


def _films_of(user_id: UUID | str, films: Iterable[str]) -> dict[str, object]:
    return {"user_id": str(user_id), "_id": {"$in": [viewer_film_key(user_id, f) for f in films]}}


@dataclass(frozen=True, slots=True)
class ErasureProgress:
    """An erasure request (an ErasureRequest document) and the parts done (ErasurePart)."""

    user_id: str
    requested_at: datetime
    expected: list[str]
    failed: str | None
    done: set[str]


class ErasureRequests:
    """The API's and `ugc erase`'s side: record a request, read its progress. Every call is
    bounded by `timeout_s`, else DependencyUnavailable. Plain rows, not Beanie documents:
    neither may wait for MongoDB to bind the documents at start."""

    def __init__(self, database: AsyncDatabase, timeout_s: float) -> None:
        self._requests = database[ErasureRequest.Settings.name]
        self._parts = database[ErasurePart.Settings.name]
        self._timeout_s = timeout_s

    async def record(
        self, erasure_id: str, user_id: UUID, requested_at: datetime, expected: list[str]
    ) -> None:
        request = {"_id": erasure_id, "user_id": str(user_id), "requested_at": requested_at}
        with _bounded(self._timeout_s):
            await self._requests.insert_one({**request, "expected": expected, "failed": None})

    async def fail(self, erasure_id: str, reason: str) -> None:
        with _bounded(self._timeout_s):
            await self._requests.update_one({"_id": erasure_id}, {"$set": {"failed": reason}})

    async def find(self, erasure_id: str) -> ErasureProgress | None:
        with _bounded(self._timeout_s):
            row = await self._requests.find_one({"_id": erasure_id})
            if row is None:
                return None
            parts = await self._parts.find({"erasure_id": erasure_id}).to_list(None)
        return ErasureProgress(
            str(row["user_id"]),
            row["requested_at"],
            list(row["expected"]),
            row.get("failed"),
            {str(part["part"]) for part in parts},
        )


class ProjectionErasure:
    """The projections worker's side (and the raw-events worker's reports)."""

    def __init__(self, database: AsyncDatabase) -> None:
        self._parts = database[ErasurePart.Settings.name]
        self._progress = database[Progress.Settings.name]
        self._favourites = database[Favourite.Settings.name]
        self._user_ratings = database[UserRating.Settings.name]

    async def report(self, erasure_id: str, parts: Iterable[str]) -> None:
        """These parts of the erasure are done (again, after a redelivery: no change)."""
        for name in parts:
            values = {"erasure_id": erasure_id, "part": name}
            try:
                await self._parts.update_one(
                    {"_id": f"{erasure_id} {name}"}, {"$set": values}, upsert=True
                )
            except DuplicateKeyError:
                continue  # reported at the same moment by a worker replaying the marker

    async def progress_films(self, user_id: UUID) -> list[str]:
        return await self._films(self._progress, user_id)

    async def favourite_films(self, user_id: UUID) -> list[str]:
        return await self._films(self._favourites, user_id)

    async def rated_films(self, user_id: UUID) -> list[str]:
        return await self._films(self._user_ratings, user_id)

    async def _films(self, collection: AsyncCollection, user_id: UUID) -> list[str]:
        rows = await collection.find({"user_id": str(user_id)}, {"movie_id": 1}).to_list(None)
        return [str(row["movie_id"]) for row in rows]

    async def erase_positions(self, user_id: UUID, films: list[str]) -> None:
        """Forget where the viewer is in these films (their watch time stays)."""
        update = {"$set": {"position_ms": 0, "finished": False}, "$unset": POSITION_FIELDS}
        await conflicts.update_many(self._progress, _films_of(user_id, films), update)
        await self._drop_empty_progress(user_id, films)

    async def erase_watch_time(self, user_id: UUID, films: list[str], offset: int) -> None:
        """Forget the viewer's watch time of these films; `offset`, the marker's, fences the
        viewing events before it (a redelivered one adds nothing), as events do each other."""
        update = {"$set": {"watched_seconds": 0, "viewing_offset": offset}}
        await conflicts.update_many(self._progress, _films_of(user_id, films), update)
        await self._drop_empty_progress(user_id, films)

    async def _drop_empty_progress(self, user_id: UUID, films: list[str]) -> None:
        """Documents left with neither a position nor watch time hold nothing of the viewer
        since the marker: gone (a later event creates them again)."""
        empty = {**_films_of(user_id, films), "position_at": None, "watched_seconds": 0}
        await self._progress.delete_many(empty)

    async def erase_favourites(self, user_id: UUID, films: list[str]) -> None:
        await self._favourites.delete_many(_films_of(user_id, films))

    async def erase_user_ratings(self, user_id: UUID, films: list[str]) -> None:
        await self._user_ratings.delete_many(_films_of(user_id, films))
