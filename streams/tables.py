"""A Faust table whose changes a caller can wait on until Kafka holds them.

Faust sends a table's changes to its changelog through the producer's buffer and, before it
commits offsets, "flushes" the producer. In Faust 0.15.3 that flush is not one: the buffer's
flush returns after 0.1 s without a message sent, with messages still queued, and a message
its sender task took from the queue but has not handed to the Kafka client yet is in neither.
So an offset can be committed while the table change its event made is still in the worker's
memory; a kill -9 then loses the change for good, and the next owner, which recovers the table
from the changelog and resumes after the committed offset, never applies it (the fault suite
saw film totals short by the last ratings before a worker was killed). A DurableTable keeps the
future of every change sent, and `changes_durable()` waits for Kafka to acknowledge each: an
event is acknowledged only after that.
"""

import logging
from typing import Any

import faust
from faust.types import FutureMessage

from streams.messages import Abandoned

PRUNE_AT = 10_000
log = logging.getLogger(__name__)


class DurableTable(faust.Table):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._undelivered: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        sent = super().send_changelog(*args, **kwargs)
        if len(self._undelivered) > PRUNE_AT:  # nobody waited: keep only what is still out
            self._undelivered = [change for change in self._undelivered if not change.done()]
        self._undelivered.append(sent)
        return sent

    async def changes_durable(self) -> None:
        """Wait until Kafka acknowledged every change sent so far; a failed send raises."""
        waiting, self._undelivered = self._undelivered, []
        for change in waiting:
            await change


async def changes_durable(table: DurableTable, app: faust.App) -> None:
    """Before an event that changed the table is acknowledged. A change Kafka refused leaves the
    table holding what its changelog does not: only a restart, which recovers the table from
    the changelog and applies the event again, makes it whole, so the worker stops."""
    try:
        await table.changes_durable()
    except Exception as exc:
        log.critical("a change of table %s never reached Kafka (%s): stopping", table.name, exc)
        await app.crash(exc)
        raise Abandoned("the table's changelog is behind it") from exc
