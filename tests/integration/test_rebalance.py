"""Workers joining, leaving and crashing under load: each rebalance completes within seconds,
consumption resumes, a SIGTERM stops a worker within a bound, and the final MongoDB and
ClickHouse state equals the ground truth of what the API accepted."""

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.api_support import api_client
from tests.worker_support import Pipeline, Worker, eventually
from tests.workload import converged, ground_truth, post_all, workload

pytestmark = pytest.mark.slow

STOP_BOUND_S = 20.0  # SIGTERM -> exited, with batches in flight
REBALANCE_BOUND_S = 45.0  # a member joined or left -> partitions held again and work done


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {what}")
        await asyncio.sleep(0.2)


def _holds_partitions(worker: Worker) -> bool:
    try:
        report = worker.health().json()
    except Exception:
        return False
    return report["assigned_partitions"] > 0 and not report["rebalancing"]


async def _holding(worker: Worker) -> None:
    await eventually(
        lambda: asyncio.to_thread(_holds_partitions, worker), bool, timeout_s=REBALANCE_BOUND_S
    )


async def test_join_leave_and_crash_under_load_keep_counts_exact(stack, settings, tmp_path):
    items = workload(random.Random(77))
    pipeline = Pipeline(settings, tmp_path)
    first = pipeline.projections
    second = Worker(settings, tmp_path / "second.log", web_port=settings.worker_web_port + 10)
    pipeline.start()
    accepted: list[tuple[uuid.UUID, dict[str, Any]]] = []
    stops: list[float] = []

    def share(fraction: float) -> Callable[[], bool]:
        return lambda: len(accepted) >= fraction * len(items)

    try:
        async with api_client(settings) as api:
            posting = asyncio.create_task(
                post_all(api, settings, items, accepted, chunk_size=10, pause_s=0.25)
            )
            await _until(share(0.15), 60, "15% posted")
            await asyncio.to_thread(second.start)  # joins: the partitions are shared
            await _holding(second)
            await _holding(first)

            await _until(share(0.35), 60, "35% posted")
            stops.append(await asyncio.to_thread(first.stop))  # leaves: the other takes all
            await _holding(second)

            await _until(share(0.55), 60, "55% posted")
            await asyncio.to_thread(second.kill)  # crashes, and comes back twice
            await asyncio.to_thread(first.start)
            await asyncio.to_thread(first.kill)
            await asyncio.to_thread(first.start)
            await _holding(first)
            await asyncio.to_thread(second.start)

            await asyncio.wait_for(posting, timeout=300)
        truth = ground_truth(accepted)
        users = set(truth["counts"])

        async def clickhouse_counts() -> dict[str, dict[str, int]]:
            counts = {}
            for user in users:
                row = await asyncio.to_thread(pipeline.analytics, "viewer-events", user_id=user)
                counts[user] = {k: v for k, v in row.items() if v}
            return counts

        await converged(settings, truth, 180)
        assert await eventually(clickhouse_counts, lambda c: c == truth["counts"], 60)
        for worker in (first, second):
            assert (await asyncio.to_thread(worker.health)).status_code == 200
        stops.append(await asyncio.to_thread(second.stop))
        stops.append(await asyncio.to_thread(first.stop))
    finally:
        second.stop()
        pipeline.stop()
    assert max(stops) < STOP_BOUND_S, stops
