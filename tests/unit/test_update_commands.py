"""How projection updates are grouped into commands and bounded in flight."""

import asyncio
from collections import defaultdict

from sinks.mongo.batches import KnownDocuments, StatementLimit
from sinks.mongo.projections import ProjectionWriter, Update


def _chain(key: str, length: int) -> list[Update]:
    return [Update({"_id": key}, {"$set": {"n": n}}) for n in range(length)]


def _writer(write_concurrency: int, updates_per_command: int) -> ProjectionWriter:
    database: defaultdict[str, None] = defaultdict(lambda: None)  # not used to group
    return ProjectionWriter(database, write_concurrency, updates_per_command)  # type: ignore[arg-type]


def test_whole_chains_go_into_commands_of_at_most_the_size():
    chains = [_chain("a", 2), _chain("b", 1), _chain("c", 3), _chain("d", 1), _chain("e", 5)]
    commands = _writer(8, 4)._commands(chains)
    assert [[c[0].filter["_id"] for c in command] for command in commands] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],  # longer than a command: alone, never split
    ]


def test_a_command_is_never_larger_than_the_updates_in_flight_allowed():
    commands = _writer(3, 16)._commands([_chain(str(n), 1) for n in range(10)])
    assert max(len(command) for command in commands) == 3


def test_one_update_per_command_sends_every_chain_alone():
    assert _writer(8, 1)._per_command == 1


async def test_updates_in_flight_stay_within_the_bound_however_they_are_grouped():
    limit = StatementLimit(5)
    in_flight, highest = 0, 0

    async def command(updates: int) -> None:
        nonlocal in_flight, highest
        async with limit.hold(updates):
            in_flight += min(updates, 5)
            highest = max(highest, in_flight)
            await asyncio.sleep(0.001)
            in_flight -= min(updates, 5)

    sizes = [1, 4, 2, 5, 3, 9, 1, 1, 4] * 5  # 9: more than the bound, takes all of it
    await asyncio.wait_for(asyncio.gather(*(command(n) for n in sizes)), timeout=5)
    assert highest == 5 and in_flight == 0


async def test_a_cancelled_wait_gives_nothing_away():
    limit = StatementLimit(2)
    async with limit.hold(2):
        waiting = asyncio.create_task(limit.hold(1).__aenter__())
        await asyncio.sleep(0)
        waiting.cancel()
    async with asyncio.timeout(1), limit.hold(2):
        pass  # all of it is free again


def test_known_documents_forget_the_least_recently_written_first():
    known = KnownDocuments(2)
    known.add(("progress", "a"))
    known.add(("progress", "b"))
    assert ("progress", "a") in known  # used: now the most recent
    known.add(("progress", "c"))
    assert ("progress", "b") not in known
    assert ("progress", "a") in known and ("progress", "c") in known
    assert ("favourites", "a") not in known


async def test_waiters_are_let_in_in_the_order_they_came():
    limit = StatementLimit(4)
    order: list[int] = []

    async def command(name: int, updates: int) -> None:
        async with limit.hold(updates):
            order.append(name)
            await asyncio.sleep(0.001)

    async with limit.hold(3):  # one place free
        waiting = [asyncio.create_task(command(n, size)) for n, size in enumerate([4, 1, 2])]
        await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    assert order == [0, 1, 2]  # the 1 behind the 4 did not take the free place first


async def test_a_cancelled_first_waiter_lets_the_ones_behind_it_in():
    limit = StatementLimit(3)
    async with limit.hold(2):
        large = asyncio.create_task(limit.hold(3).__aenter__())
        await asyncio.sleep(0)
        small = asyncio.create_task(limit.hold(1).__aenter__())
        await asyncio.sleep(0)
        large.cancel()
        await asyncio.wait_for(small, timeout=1)  # the free place is its own now
