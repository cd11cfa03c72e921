"""Erasure markers split a batch into runs, in the batch's order: what came before a marker is
applied before it erases, what came after is applied after."""

from types import SimpleNamespace
from typing import Any

from streams.erasure import with_erasures
from ugc.erasure import MARKER_HEADER, expected_parts
from ugc.settings import Settings


def _event(name: str, marker: bool = False) -> Any:
    headers = [(MARKER_HEADER, b"some-erasure")] if marker else []
    return SimpleNamespace(name=name, message=SimpleNamespace(headers=headers))


async def test_runs_keep_the_batch_order():
    calls: list[tuple[str, list[str]]] = []

    async def apply(events: list[Any]) -> None:
        calls.append(("apply", [e.name for e in events]))

    async def erase(events: list[Any]) -> None:
        calls.append(("erase", [e.name for e in events]))

    batch = [_event("a"), _event("b"), _event("m1", True), _event("m2", True), _event("c")]
    batch += [_event("m3", True)]
    await with_erasures(apply, erase)(batch)

    assert calls == [
        ("apply", ["a", "b"]),
        ("erase", ["m1", "m2"]),
        ("apply", ["c"]),
        ("erase", ["m3"]),
    ]


def test_an_erasure_waits_for_every_store_and_partition():
    parts = expected_parts(Settings(_env_file=None, kafka_partitions=3))
    # ClickHouse: 4 topics; MongoDB: playback, viewing, favourites; ratings-by-film: 3 x 3.
    assert len(parts) == len(set(parts)) == 4 * 3 + 3 * 3 + 3 * 3
    assert "clickhouse:ugc.viewing[2]" in parts
    assert "mongodb:ugc.ratings-by-film[0]<ugc.ratings[2]" in parts
