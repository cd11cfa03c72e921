"""The read gateway over the MongoDB projections: the one place of the API that speaks MongoDB.

The API owns one client. Beanie binds the documents at start-up, or on the first read when
MongoDB was away then (the write path must not wait for it). Every read, initialisation
included, is bounded by `UGC_MONGO_TIMEOUT_S` (pymongo's client-side operation timeout); no
answer in time, or no connection at all, raises DependencyUnavailable, which the API turns into
503 with Retry-After.

Queries go to this client's own collections, not through Beanie's class-level binding: that
binding is per process, and another client binding the documents (a second app, a test) must
not redirect or close the API's reads. Rows are still parsed into the Beanie documents.
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from uuid import UUID

import pymongo
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from sinks.mongo.client import init_documents, mongo_client
from sinks.mongo.documents import Favourite, FilmRating, Progress, UserRating, viewer_film_key
from ugc.errors import DependencyUnavailable
from ugc.settings import Settings

log = logging.getLogger(__name__)
MONGODB = "mongodb"


@contextmanager
def _bounded(timeout_s: float) -> Iterator[None]:
    """A deadline for every MongoDB call in the block; unreachable or too slow -> unavailable."""
    try:
        with pymongo.timeout(timeout_s):
            yield
    except PyMongoError as exc:
        # Other errors (a bad query, a server-side refusal) are bugs, not outages: a 500.
        if not _unavailable(exc):
            raise
        log.warning("mongodb call failed: %s: %.200s", type(exc).__name__, exc)
        raise DependencyUnavailable(MONGODB, f"{type(exc).__name__} within {timeout_s:g}s") from exc


# Answers of a server that cannot serve now, whatever the query: MongoDB unreachable or shutting
# down (HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, InterruptedAtShutdown).
UNAVAILABLE_CODES = frozenset({6, 7, 89, 91, 11600})
# FerretDB answers InternalError (code 1) with PostgreSQL's error when its database is away:
# no connection, or SQLSTATE class 08 (connection), 53 (resources), 57P (shutting down, starting).
POSTGRES_AWAY = re.compile(r"failed to connect|SQLSTATE (08|53|57P)|conn closed|unexpected EOF")


def _unavailable(exc: PyMongoError) -> bool:
    if isinstance(exc, ConnectionFailure) or exc.timeout:
        return True
    if not isinstance(exc, OperationFailure):
        return False
    return exc.code in UNAVAILABLE_CODES or (exc.code == 1 and bool(POSTGRES_AWAY.search(str(exc))))


class ProjectionReads:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout_s = settings.mongo_timeout_s
        self._client = mongo_client(settings, timeout_ms=max(1, round(self._timeout_s * 1000)))
        database = self._client[settings.mongo_db]
        self._progress = database[Progress.Settings.name]
        self._favourites = database[Favourite.Settings.name]
        self._user_ratings = database[UserRating.Settings.name]
        self._film_ratings = database[FilmRating.Settings.name]
        self._lock = asyncio.Lock()
        self._ready = False
        self._attempts = 0
        self._last_failure: DependencyUnavailable | None = None

    async def start(self) -> None:
        """Bind the documents if MongoDB answers now; otherwise the first read tries again."""
        try:
            await self._ensure_ready()
        except DependencyUnavailable as exc:
            log.warning("starting without %s: %s", exc.dependency, exc.reason)

    async def close(self) -> None:
        await self._client.close()

    async def _ensure_ready(self) -> None:
        if self._ready:
            return
        attempts_seen = self._attempts
        async with self._lock:
            if self._ready:
                return
            if self._attempts != attempts_seen and self._last_failure is not None:
                # An attempt failed while this request waited: answer now rather than queue
                # one more timeout behind it.
                raise DependencyUnavailable(MONGODB, self._last_failure.reason)
            self._attempts += 1
            try:
                with _bounded(self._timeout_s):
                    await init_documents(self._client, self._settings)
            except DependencyUnavailable as exc:
                self._last_failure = exc
                raise
            self._ready = True

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """One deadline for (lazy) initialisation and the reads of one request."""
        with _bounded(self._timeout_s):
            await self._ensure_ready()
            yield

    async def list_favourites(
        self, user_id: UUID, limit: int, offset: int
    ) -> tuple[list[Favourite], int]:
        """A page of the viewer's active favourites, newest change first, and how many in all."""
        active = {"user_id": str(user_id), "active": True}
        # movie_id breaks ties, so equal times cannot move a film between pages.
        order = [("changed_at", DESCENDING), ("movie_id", ASCENDING)]
        async with self._reading():
            cursor = self._favourites.find(active).sort(order).skip(offset).limit(limit)
            rows = await cursor.to_list()
            total = await self._favourites.count_documents(active)
        return [Favourite.model_validate(row) for row in rows], total

    async def get_progress(self, user_id: UUID, movie_id: UUID) -> Progress | None:
        row = await self._find_one(self._progress, {"_id": viewer_film_key(user_id, movie_id)})
        return None if row is None else Progress.model_validate(row)

    async def continue_watching(self, user_id: UUID, limit: int) -> list[Progress]:
        """Films the viewer started and has not finished, most recently updated first."""
        started = {"user_id": str(user_id), "finished": False, "position_ms": {"$gt": 0}}
        order = [("updated_at", DESCENDING), ("movie_id", ASCENDING)]
        async with self._reading():
            rows = await self._progress.find(started).sort(order).limit(limit).to_list()
        return [Progress.model_validate(row) for row in rows]

    async def get_film_rating(self, movie_id: UUID) -> FilmRating | None:
        row = await self._find_one(self._film_ratings, {"_id": str(movie_id)})
        return None if row is None else FilmRating.model_validate(row)

    async def get_user_rating(self, user_id: UUID, movie_id: UUID) -> UserRating | None:
        key = viewer_film_key(user_id, movie_id)
        row = await self._find_one(self._user_ratings, {"_id": key})
        return None if row is None else UserRating.model_validate(row)

    async def _find_one(
        self, collection: AsyncCollection[dict[str, Any]], query: dict[str, Any]
    ) -> dict[str, Any] | None:
        async with self._reading():
            return await collection.find_one(query)
