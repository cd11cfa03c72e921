"""The sink writes in flight in this worker process, and waiting for them.

A write once sent is applied by the store whatever the client does, so before this worker's
partitions can go to another worker (a revocation, a shutdown) the writes in flight must have
landed: otherwise an older write could land after the next owner's newer one.
"""

import asyncio
import logging
from typing import Any, TypeVar

import faust

log = logging.getLogger(__name__)
F = TypeVar("F", bound=asyncio.Future[Any])

_writes: set[asyncio.Future[Any]] = set()


def track(write: F) -> F:
    _writes.add(write)
    write.add_done_callback(_writes.discard)
    return write


def settle_before_handing_over(app: faust.App, bound_s: float) -> None:
    """Faust awaits these receivers within the revocation (before the worker rejoins the
    group) and within its stop (before the consumer leaves it)."""

    async def settle(*args: Any, **kwargs: Any) -> None:
        if not _writes:
            return
        _done, late = await asyncio.wait(set(_writes), timeout=bound_s)
        if late:
            log.warning("%d sink writes still in flight after %.1fs", len(late), bound_s)

    app.on_partitions_revoked.connect(settle)
    app.on_before_shutdown.connect(settle)
