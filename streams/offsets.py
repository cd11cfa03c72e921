"""Every partition applied in offset order, and committed only as far as applied: repairs to
Faust 0.15.3's consumer.

Our sinks are idempotent by offset: a viewer's watch time and a film's rating total each keep
the offset of the last event they took, and refuse older ones, so an event applied after a
later one of its partition is lost. Faust can apply them so, and commit past events it never
applied (faust-streaming#606); the fault suite saw both (watch time and film totals short after
workers left and joined under load; ratings at consecutive offsets never forwarded):

- After a rebalance, Faust resumes fetching before it seeks the partitions back to their
  committed offsets, so events from a position fetched before the rebalance (past events that
  were let go) are applied first, and the events between come after the seek, refused.
- Its fetch loop keeps a read mark per partition and drops anything below it as already seen;
  a message in hand when the rebalance started sets that mark after the seek, so the events
  between the committed offset and that message are dropped when fetched again. The loop also
  counts a jump above the mark as acknowledged.
- Its commit takes the lowest run of acknowledged offsets, allowing one offset of slack at the
  start, and no check at all while nothing is committed (it keeps offset 0 as None).

The repairs: a sequencer hands on, per acknowledged topic's partition, only the next offset since
the partition was sought; nothing before the seek, a duplicate never, and on a jump it seeks back
to the missing offset. Faust's read mark is gone. A commit covers only the run of applied offsets
that starts where the partition was sought (or at the offset committed since). Our event topics
have no transaction markers and no compaction, so their offsets have no legitimate holes; the
table changelogs, which Faust reads without acknowledgements, pass untouched.
"""

import logging
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Iterable
from enum import Enum
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP, Message
from faust.utils.functional import consecutive_numbers

log = logging.getLogger(__name__)


class Verdict(Enum):
    NEXT = "next"  # hand it on
    UNSOUGHT = "unsought"  # the partition was not sought since the last rebalance
    SEEN = "seen"  # handed on already since the seek
    MISSING = "missing"  # offsets before it were never handed on: seek back to them
    AWAITED = "awaited"  # past the offset just sought: fetched before the seek


class Sequencer:
    """The next offset to hand on, per partition, since each was sought.

    Right after a seek, records fetched before it are still arriving (Faust iterates a fetched
    batch to its end): for `grace_s` they are set aside quietly; a jump seen later asks for a
    seek back, at most once per `grace_s`."""

    def __init__(self, grace_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.next: dict[TP, int] = {}
        self._quiet_until: dict[TP, float] = {}
        self._moved_at: dict[TP, float] = {}  # when the partition was sought or handed one on
        self._grace_s, self._clock = grace_s, clock

    def sought(self, tp: TP, offset: int) -> None:
        self.next[tp] = offset
        self._quiet_until[tp] = self._moved_at[tp] = self._clock() + self._grace_s

    def forget(self, tps: Iterable[TP] | None = None) -> None:
        for tp in list(self.next) if tps is None else tps:
            self.next.pop(tp, None)
            self._quiet_until.pop(tp, None)
            self._moved_at.pop(tp, None)

    def still_since(self, seconds: float) -> dict[TP, int]:
        """The partitions that handed nothing on for `seconds`, with the offset each awaits."""
        now = self._clock()
        return {tp: n for tp, n in self.next.items() if now - self._moved_at[tp] > seconds}

    def verdict(self, tp: TP, offset: int) -> Verdict:
        expected = self.next.get(tp)
        if expected is None:
            return Verdict.UNSOUGHT
        if offset == expected:
            self.next[tp] = offset + 1
            self._moved_at[tp] = self._clock()
            return Verdict.NEXT
        if offset < expected:
            return Verdict.SEEN
        if self._clock() < self._quiet_until.get(tp, 0.0):
            return Verdict.AWAITED
        return Verdict.MISSING


def next_commit(acked: list[int], start: int | None) -> int | None:
    """The offset to commit once the offsets in `acked` are applied, or None.

    Only a run of consecutive offsets beginning at `start` counts. The run, and any offset below
    `start` (committed already, maybe by the partition's previous owner while this worker was
    applying it too), are removed from `acked`, which is sorted in place."""
    if not acked or start is None:
        return None
    acked.sort()
    del acked[: bisect_left(acked, start)]
    if not acked or acked[0] != start:
        return None
    run = next(consecutive_numbers(acked))
    del acked[: len(run)]
    return int(run[-1]) + 1


class NoReadMarks(dict[Any, int | None]):
    """Faust's per-partition read mark (`Consumer._read_offset`) that remembers nothing, so its
    fetch loop drops nothing and records no gap: the sequencer decides instead."""

    def __getitem__(self, tp: Any) -> None:
        return None

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


_SEQUENCER = "_ugc_sequencer"
_SOUGHT = "_ugc_sought"  # TP -> the offset the partition was last sought to


def _sequencer(consumer: Any) -> Sequencer:
    sequencer: Sequencer = getattr(consumer, _SEQUENCER)
    return sequencer


def _sought(consumer: Any) -> dict[TP, int]:
    sought: dict[TP, int] = getattr(consumer, _SOUGHT)
    return sought


def _acknowledged(consumer: Any, tp: TP) -> bool:
    return bool(consumer.app.topics.acks_enabled_for(tp.topic))


_faust_init = Consumer.__init__
_faust_getmany = Consumer.getmany
_faust_perform_seek = Consumer.perform_seek
_faust_on_partitions_revoked = Consumer.on_partitions_revoked


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    _faust_init(self, *args, **kwargs)
    self._read_offset = NoReadMarks()
    setattr(self, _SEQUENCER, Sequencer())
    setattr(self, _SOUGHT, {})


async def _getmany(self: Any, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109 (Faust's signature)
    sequencer = _sequencer(self)
    async for tp, message in _faust_getmany(self, timeout):
        if not _acknowledged(self, tp):
            yield tp, message
            continue
        verdict = sequencer.verdict(tp, message.offset)
        if verdict is Verdict.NEXT:
            yield tp, message
        elif verdict is Verdict.MISSING:
            await _refetch(self, sequencer, tp, message.offset)
        elif verdict is Verdict.UNSOUGHT and _settled_owner_of(self, tp):
            await _adopt(self, tp, message.offset)


def _settled_owner_of(self: Any, tp: TP) -> bool:
    """Outside a rebalance every assigned partition has been sought; one that was not would
    have its records set aside for good (seen: a fresh worker that handed nothing on)."""
    return not self.app.rebalancing and tp in self.assignment()


async def _adopt(self: Any, tp: TP, got: int) -> None:
    """Seek an assigned partition that was never sought to where its commits start, as the
    rebalance's seek would have (the records since come again, in order)."""
    offset = (await _where_commits_start(self, [tp]))[tp]
    log.warning("%s: got offset %d of a partition never sought; seeking it to %d", tp, got, offset)
    await _seek(self, {tp: offset}, refetch=False)


async def _refetch(self: Any, sequencer: Sequencer, tp: TP, got: int) -> None:
    missing = sequencer.next[tp]
    first = (await self.earliest_offsets(tp)).get(tp, 0)
    deleted = missing < first
    if deleted:  # by retention, meanwhile: nothing to wait for, nor to read again
        log.warning("%s: offsets %d..%d were deleted before being read", tp, missing, first - 1)
        missing = first
    log.warning("%s: got offset %d before %d; fetching again from %d", tp, got, missing, missing)
    if deleted:
        _sought(self)[tp] = missing
    # Otherwise only the fetch moves: the offsets handed on before it may still be in the
    # agents, so the commit still starts where the partition was sought.
    await _seek(self, {tp: missing}, refetch=True)


async def fetch_stalled_again(self: Any, still_s: float) -> dict[TP, int]:
    """Fetch again the partitions that have records waiting, yet handed none on for `still_s`
    while the agents hold nothing unacknowledged (so nothing holds the fetch back); returns
    them with the offset each is fetched from. Seen: a freshly started worker, ready, that
    never handed on a partition's last records until the next rebalance. Fetching again from
    the awaited offset skips nothing and hands nothing on twice."""
    if self.app.rebalancing or self.unacked:
        return {}
    assigned = self.assignment()
    still = {tp: n for tp, n in _sequencer(self).still_since(still_s).items() if tp in assigned}
    if not still:
        return {}
    ends = await self.highwaters(*still)
    stalled = {tp: n for tp, n in still.items() if ends.get(tp, 0) > n}
    for tp, offset in stalled.items():
        log.warning(
            "%s: offsets %d..%d wait, none handed on for %.0f s; fetching again from %d",
            tp, offset, ends[tp] - 1, still_s, offset,
        )  # fmt: skip
    if stalled:
        await _seek(self, stalled, refetch=True)
    return stalled


async def _perform_seek(self: Any) -> None:
    """Seek as Faust does, then seek every acknowledged partition explicitly (Faust leaves one
    with nothing committed wherever it was) and start its sequence there."""
    sequencer = _sequencer(self)
    sequencer.forget()
    await _faust_perform_seek(self)
    tps = [tp for tp in self.assignment() if _acknowledged(self, tp)]
    await _seek(self, await _where_commits_start(self, tps), refetch=False)


async def _where_commits_start(self: Any, tps: list[TP]) -> dict[TP, int]:
    """Per partition, its committed offset, or its earliest one when nothing is committed or
    retention deleted the offsets since."""
    firsts = await self.earliest_offsets(*tps) if tps else {}
    return {tp: max(self._committed_offset.get(tp) or 0, firsts.get(tp, 0)) for tp in tps}


async def _seek(self: Any, offsets: dict[TP, int], refetch: bool) -> None:
    """Seek in the consumer's own thread (aiokafka's fetcher is not thread-safe). The sequencer
    moves first: a message fetched meanwhile from the old position is then either the awaited
    offset itself (same record) or set aside, and none from the new position is."""
    sequencer = _sequencer(self)
    for tp, offset in offsets.items():
        sequencer.sought(tp, offset)
        if not refetch:
            _sought(self)[tp] = offset
    if offsets:
        await self.seek_wait(offsets)


async def _on_partitions_revoked(self: Any, revoked: set[TP]) -> None:
    _sequencer(self).forget(revoked)  # nothing is handed on until the next seek
    await _faust_on_partitions_revoked(self, revoked)


def _new_offset(self: Any, tp: TP) -> int | None:
    committed = self._committed_offset[tp]  # None for 0 as well as for nothing committed
    sought = _sought(self).get(tp)
    start = None if sought is None else max(committed or 0, sought)
    acked = self._acked[tp]
    before = len(acked)
    offset = next_commit(acked, start)
    if len(acked) < before:
        self._acked_index[tp].intersection_update(acked)
    return offset


def apply_in_order() -> None:
    """Install the repairs on Faust's consumer class (idempotent; before the app starts)."""
    Consumer.__init__ = _init  # type: ignore[method-assign]
    Consumer.getmany = _getmany  # type: ignore[method-assign]
    Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
    Consumer.on_partitions_revoked = _on_partitions_revoked  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
