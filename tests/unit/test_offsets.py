"""streams.offsets: each acknowledged partition is handed on in offset order from where it was
sought, and Faust's consumer commits only a run of applied offsets starting there."""

from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP

from streams.offsets import (
    NoReadMarks,
    Sequencer,
    Verdict,
    _adopt,
    _refetch,
    _settled_owner_of,
    apply_in_order,
    fetch_stalled_again,
    next_commit,
)

PARTITION = TP("cinema.ugc.viewing", 3)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_only_the_next_offset_since_the_seek_is_handed_on() -> None:
    sequencer = Sequencer()
    # Fetched after a rebalance, before the seek: from a position past events that were let go.
    assert sequencer.verdict(PARTITION, 5485) is Verdict.UNSOUGHT
    sequencer.sought(PARTITION, 5431)
    assert sequencer.verdict(PARTITION, 5485) is Verdict.AWAITED  # fetched before the seek
    assert sequencer.verdict(PARTITION, 5431) is Verdict.NEXT
    assert sequencer.verdict(PARTITION, 5431) is Verdict.SEEN  # fetched again: a duplicate
    assert sequencer.verdict(PARTITION, 5432) is Verdict.NEXT


def test_a_jump_past_the_grace_asks_for_a_seek_back_at_most_once_per_grace() -> None:
    clock = Clock()
    sequencer = Sequencer(grace_s=1.0, clock=clock)
    sequencer.sought(PARTITION, 80)
    assert sequencer.verdict(PARTITION, 80) is Verdict.NEXT
    clock.now = 5.0
    assert sequencer.verdict(PARTITION, 95) is Verdict.MISSING  # 81..94 never came
    sequencer.sought(PARTITION, 81)  # the seek back
    # The rest of the batch fetched before it: set aside quietly, no storm of seeks.
    assert [sequencer.verdict(PARTITION, o) for o in (96, 97, 98)] == [Verdict.AWAITED] * 3
    assert sequencer.verdict(PARTITION, 81) is Verdict.NEXT
    clock.now = 7.0
    assert sequencer.verdict(PARTITION, 99) is Verdict.MISSING  # still not there: ask again


def test_a_revoked_partition_hands_on_nothing_until_sought_again() -> None:
    sequencer = Sequencer()
    sequencer.sought(PARTITION, 10)
    sequencer.forget([PARTITION])
    assert sequencer.verdict(PARTITION, 10) is Verdict.UNSOUGHT


def test_a_run_from_the_start_is_committed_and_removed() -> None:
    acked = [12, 10, 11, 14]
    assert next_commit(acked, 10) == 13
    assert acked == [14]


def test_offsets_below_the_start_were_committed_already_and_are_dropped() -> None:
    # Applied here while the partition's previous owner committed past them.
    acked = [5635, 5636, 5642, 5643]
    assert next_commit(acked, 5642) == 5644
    assert acked == []
    acked = [7, 8]
    assert next_commit(acked, 9) is None
    assert acked == []


def test_the_event_at_the_start_is_never_passed() -> None:
    # Faust 0.15.3's own rule commits 13 here: it lets the run begin one past the committed offset.
    acked = [11, 12]
    assert next_commit(acked, 10) is None
    assert acked == [11, 12]


def test_nothing_is_committed_until_the_start_is_known_and_applied() -> None:
    acked = [5, 6, 7]
    assert next_commit(acked, None) is None
    assert next_commit(acked, 0) is None  # offsets 0..4 were never applied
    assert next_commit(acked, 5) == 8
    assert next_commit([], 3) is None


def _consumer(committed: int | None, sought: int | None, acked: list[int]) -> Any:
    return SimpleNamespace(
        _committed_offset={PARTITION: committed},
        _acked={PARTITION: acked},
        _acked_index={PARTITION: set(acked)},
        _ugc_sought={} if sought is None else {PARTITION: sought},
    )


def test_faust_commits_only_from_where_the_partition_was_sought() -> None:
    apply_in_order()
    # Faust keeps "nothing committed" and "0 committed" as None, and then skipped its head check:
    # a lone acknowledged offset was committed, passing every event before it.
    lone = _consumer(committed=None, sought=0, acked=[95])
    assert Consumer._new_offset(lone, PARTITION) is None
    applied = _consumer(committed=None, sought=0, acked=[2, 0, 1, 95])
    assert Consumer._new_offset(applied, PARTITION) == 3
    assert applied._acked[PARTITION] == [95] and applied._acked_index[PARTITION] == {95}
    behind = _consumer(committed=5642, sought=5635, acked=[5635, 5636, 5642])
    assert Consumer._new_offset(behind, PARTITION) == 5643
    assert behind._acked[PARTITION] == [] and behind._acked_index[PARTITION] == set()
    never_sought = _consumer(committed=None, sought=None, acked=[0, 1])
    assert Consumer._new_offset(never_sought, PARTITION) is None


def test_the_fetch_loop_keeps_no_read_mark() -> None:
    # A mark set by a message fetched before a seek made the loop drop the events fetched again.
    marks = NoReadMarks()
    marks[PARTITION] = 95
    marks.update({PARTITION: 80})
    assert marks[PARTITION] is None and PARTITION not in marks
    assert marks.pop(PARTITION, None) is None


class _Fetching:
    """What streams.offsets asks of Faust's consumer to fetch a partition again."""

    def __init__(self, first: int, sought: int) -> None:
        self.first = first
        self.seeks: list[dict[TP, int]] = []
        self._ugc_sequencer = Sequencer()
        self._ugc_sought = {PARTITION: sought}
        self._ugc_sequencer.sought(PARTITION, sought)

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.first for tp in tps}

    async def seek_wait(self, offsets: dict[TP, int]) -> None:
        self.seeks.append(dict(offsets))


async def test_a_jump_fetches_the_missing_offsets_again_and_commits_still_start_at_the_seek():
    consumer = _Fetching(first=0, sought=80)
    sequencer = consumer._ugc_sequencer
    assert [sequencer.verdict(PARTITION, o) for o in (80, 81)] == [Verdict.NEXT] * 2
    await _refetch(consumer, sequencer, PARTITION, 90)  # on a MISSING verdict for 90
    assert consumer.seeks == [{PARTITION: 82}]
    assert sequencer.next[PARTITION] == 82
    assert sequencer.verdict(PARTITION, 91) is Verdict.AWAITED
    # 80 and 81 may still be in the agents: the commit must not start past them.
    assert consumer._ugc_sought[PARTITION] == 80


async def test_offsets_deleted_by_retention_are_not_waited_for():
    consumer = _Fetching(first=100, sought=80)
    sequencer = consumer._ugc_sequencer
    await _refetch(consumer, sequencer, PARTITION, 100)  # on a MISSING verdict for 100
    assert consumer.seeks == [{PARTITION: 100}]
    assert consumer._ugc_sought[PARTITION] == 100
    assert sequencer.verdict(PARTITION, 100) is Verdict.NEXT


class _Assigned(_Fetching):
    """A consumer owning PARTITION, outside a rebalance unless told, the partition unsought."""

    def __init__(self, committed: int | None, first: int, rebalancing: bool = False) -> None:
        super().__init__(first=first, sought=0)
        self._ugc_sequencer.forget()
        self._ugc_sought.clear()
        self._committed_offset = {PARTITION: committed}
        self.app = SimpleNamespace(rebalancing=rebalancing)

    def assignment(self) -> set[TP]:
        return {PARTITION}


async def test_an_assigned_partition_never_sought_is_sought_to_where_commits_start():
    consumer = _Assigned(committed=42, first=0)
    sequencer = consumer._ugc_sequencer
    assert sequencer.verdict(PARTITION, 45) is Verdict.UNSOUGHT
    assert _settled_owner_of(consumer, PARTITION)
    await _adopt(consumer, PARTITION, 45)
    assert consumer.seeks == [{PARTITION: 42}]
    assert consumer._ugc_sought[PARTITION] == 42
    assert sequencer.verdict(PARTITION, 42) is Verdict.NEXT


async def test_nothing_is_adopted_during_a_rebalance_nor_when_not_assigned():
    assert not _settled_owner_of(_Assigned(committed=42, first=0, rebalancing=True), PARTITION)
    assert not _settled_owner_of(_Assigned(committed=42, first=0), TP("other", 0))


async def test_a_partition_with_nothing_committed_is_adopted_from_its_earliest_offset():
    consumer = _Assigned(committed=None, first=7)
    await _adopt(consumer, PARTITION, 9)
    assert consumer.seeks == [{PARTITION: 7}]


class _Still(_Assigned):
    """An owner of PARTITION sought to 40, idle: records up to `end` wait in the partition."""

    def __init__(self, end: int, unacked: int = 0, rebalancing: bool = False) -> None:
        super().__init__(committed=40, first=0, rebalancing=rebalancing)
        self.clock = Clock()
        self._ugc_sequencer = Sequencer(clock=self.clock)
        self._ugc_sequencer.sought(PARTITION, 40)
        self._ugc_sought[PARTITION] = 40
        self.end, self.unacked = end, set(range(unacked))

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.end for tp in tps}


async def test_a_partition_with_records_waiting_and_nothing_handed_on_is_fetched_again():
    consumer = _Still(end=45)
    assert consumer._ugc_sequencer.verdict(PARTITION, 40) is Verdict.NEXT
    consumer.clock.now = 5.0
    assert await fetch_stalled_again(consumer, 10.0) == {}  # not long enough yet
    consumer.clock.now = 20.0
    assert await fetch_stalled_again(consumer, 10.0) == {PARTITION: 41}
    assert consumer.seeks == [{PARTITION: 41}]  # from the offset awaited: nothing skipped
    assert consumer._ugc_sought[PARTITION] == 40  # commits still start where it was sought
    assert consumer._ugc_sequencer.verdict(PARTITION, 41) is Verdict.NEXT


async def test_an_idle_partition_or_busy_agents_are_left_alone():
    caught_up = _Still(end=41)  # 40 was the last record: nothing waits
    assert caught_up._ugc_sequencer.verdict(PARTITION, 40) is Verdict.NEXT
    caught_up.clock.now = 60.0
    assert await fetch_stalled_again(caught_up, 10.0) == {}
    for busy in (_Still(end=45, unacked=3), _Still(end=45, rebalancing=True)):
        busy.clock.now = 60.0
        assert await fetch_stalled_again(busy, 10.0) == {}
        assert busy.seeks == []
