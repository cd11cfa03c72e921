"""Several projection updates in one `update` command, where that is safe on FerretDB 1.24.

One update per command costs the worker most of its CPU per event (pymongo's per-command work:
bench/projection_writes.py measures it). A command of several updates costs a fraction of that
per update, but FerretDB 1.24 makes it unsafe in general: it stops a command at its first error
(a refused upsert, a refused version) without saying which updates ran, and holds PostgreSQL
connections for every update of a command until the command ends. So only updates that
- are plain updates (no upsert) of documents known to exist, and
- are all safe to send again (every projection update is: its filter refuses a repeat)
go together, in commands of a bounded size, with the process's statements in flight bounded
whatever commands carry them. A command whose reply does not show every update matched (a late
event refused, a document erased meanwhile, an error) is answered by sending its updates again
one by one, as upserts where they were, which then decide each on its own.
"""

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import Counter
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

COMMANDS = Counter(
    "ugc_mongo_update_commands_total",
    "Commands of several projection updates: applied whole, or sent again one by one",
    ["collection", "outcome"],
)


class StatementLimit:
    """At most `capacity` updates in flight in the process, however they are grouped into
    commands (FerretDB's pool is shared by every process). A command asks for all its updates'
    places at once, so two commands never hold part of what each needs. Waiters are served in
    the order they came, and a release wakes only those it lets in: a batch queues hundreds of
    writes here, and waking every waiter on every release to re-check took some 8% of the
    projections worker's samples in a profile at 350 events/s."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def hold(self, statements: int = 1) -> AsyncIterator[None]:
        wanted = min(statements, self.capacity)
        await self._take(wanted)
        try:
            yield
        finally:
            self._give_back(wanted)

    async def _take(self, wanted: int) -> None:
        if not self._waiting and self._free >= wanted:
            self._free -= wanted
            return
        place = (wanted, asyncio.get_running_loop().create_future())
        self._waiting.append(place)
        try:
            await place[1]
        except asyncio.CancelledError:
            if place[1].cancelled():
                if place in self._waiting:  # (a wake-up may have passed over it already)
                    self._waiting.remove(place)
                self._wake()  # it may have been first in line, holding back smaller ones
            else:
                self._give_back(wanted)  # let in, then cancelled before it could go on
            raise

    def _give_back(self, wanted: int) -> None:
        self._free += wanted
        self._wake()

    def _wake(self) -> None:
        while self._waiting and self._free >= self._waiting[0][0]:
            wanted, future = self._waiting.popleft()
            if not future.done():  # done: cancelled, its task gone
                self._free -= wanted
                future.set_result(None)


class KnownDocuments:
    """The most recently written document ids of each collection: those exist (unless erased
    since, which a batched update then finds out by matching nothing)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[tuple[str, Hashable], None] = OrderedDict()

    def __contains__(self, key: tuple[str, Hashable]) -> bool:
        if key in self._ids:
            self._ids.move_to_end(key)
            return True
        return False

    def add(self, key: tuple[str, Hashable]) -> None:
        self._ids[key] = None
        self._ids.move_to_end(key)
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


async def all_matched(
    collection: AsyncCollection, statements: list[tuple[dict[str, Any], dict[str, Any]]]
) -> bool:
    """Send the (filter, update) pairs, none an upsert, as one command; True when the reply
    shows each of them matched its document (each filter names one `_id`)."""
    try:
        reply = await collection.database.command(
            {
                "update": collection.name,
                "updates": [{"q": q, "u": u, "upsert": False} for q, u in statements],
                "ordered": True,
            }
        )
    except OperationFailure:
        reply = {"n": -1}  # which of them ran is unknown: they are sent again one by one
    applied = not reply.get("writeErrors") and int(reply.get("n", 0)) == len(statements)
    COMMANDS.labels(collection.name, "applied" if applied else "sent alone").inc()
    return applied
