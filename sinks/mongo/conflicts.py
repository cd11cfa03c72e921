"""Updates that no concurrent writer can undo, on any MongoDB the service runs against.

FerretDB 1.24 applies an update by reading the document, computing the new one, then writing it
whole by `_id`, with nothing in between: two updates of one document at once keep only one of
them (measured: 174 of 300 increments kept with two clients). A worker process lets one of its
paths write a document at a time (sinks/mongo/projections.py), but two processes can still meet
on a document while a partition changes hands. So every update also increments the document's
version `_v`, and on the local FerretDB a trigger refuses the write of a version that does not
move past the stored one, which is an update computed from a document another writer changed
since (sinks/mongo/postgres.py, created by `ugc init`). Such a refused update is sent again: it
is then computed from the new document, and its filter (the newest-wins rule, the offset fence)
decides on what is really stored. A real MongoDB applies each update atomically: the version
moves, nothing is refused.

An upsert has the same race on a document that does not exist yet: both writers insert, and
the second gets a duplicate `_id`, which otherwise means "the stored document did not match the
filter" (it is newer). So a refused upsert is sent again as a plain update, which the document,
now there, answers either way.
"""

import asyncio
import logging
import random
from typing import Any

from prometheus_client import Counter
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure

VERSION = "_v"
# What the trigger's refusal says; FerretDB passes it on in an InternalError (code 1).
CONFLICT_MESSAGE = "ugc write conflict"
MAX_ATTEMPTS = 50  # contention clears within a few tries; past this the sink's retry takes over
log = logging.getLogger(__name__)
WRITE_CONFLICTS = Counter(
    "ugc_mongo_write_conflicts_total",
    "Updates refused because another writer changed the document meanwhile, and sent again",
    ["collection"],
)


class WriteConflictsPersist(RuntimeError):
    """A document kept changing under an update for MAX_ATTEMPTS tries."""


def versioned(update: dict[str, Any]) -> dict[str, Any]:
    """The update, moving the document's version on."""
    increments = {**update.get("$inc", {}), VERSION: 1}
    return {**update, "$inc": increments}


def is_write_conflict(exc: BaseException) -> bool:
    return isinstance(exc, OperationFailure) and CONFLICT_MESSAGE in str(exc.details or exc)


async def update_one(
    collection: AsyncCollection, filter: dict[str, Any], update: dict[str, Any], upsert: bool
) -> bool:
    """Apply one update as if nobody else wrote the document meanwhile; False when the stored
    document refused it (it did not match the filter)."""
    update = versioned(update)
    for attempt in range(MAX_ATTEMPTS):
        try:
            result = await collection.update_one(filter, update, upsert=upsert)
            return bool(result.matched_count or result.upserted_id is not None)
        except DuplicateKeyError:
            if not upsert:
                raise
            upsert = False  # the document exists now: its filter decides
        except OperationFailure as exc:
            if not is_write_conflict(exc):
                raise
            await _backoff(collection, filter, attempt)
    raise WriteConflictsPersist(f"{collection.name} {filter.get('_id')!r}: {MAX_ATTEMPTS} tries")


async def update_many(
    collection: AsyncCollection, filter: dict[str, Any], update: dict[str, Any]
) -> None:
    """An update of several documents that only sets values (safe to send again whole)."""
    update = versioned(update)
    for attempt in range(MAX_ATTEMPTS):
        try:
            await collection.update_many(filter, update)
            return
        except OperationFailure as exc:
            if not is_write_conflict(exc):
                raise
            await _backoff(collection, filter, attempt)
    raise WriteConflictsPersist(f"{collection.name}: {MAX_ATTEMPTS} tries")


async def _backoff(collection: AsyncCollection, filter: dict[str, Any], attempt: int) -> None:
    WRITE_CONFLICTS.labels(collection.name).inc()
    log.warning(
        "write conflict on %s %r (another writer changed it meanwhile): applying again",
        collection.name,
        filter.get("_id"),
    )
    # A little jitter, so two writers that collided do not collide again in step.
    await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
