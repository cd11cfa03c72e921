"""Crash test: kill -9 the worker in the middle of a stream, restart it, and the final MongoDB and
ClickHouse state equals the ground truth computed from what the API accepted."""

import asyncio
import random
import uuid
from typing import Any

import pytest

from tests.api_support import api_client
from tests.worker_support import Pipeline, eventually
from tests.workload import T0, converged, ground_truth, post_all, workload

pytestmark = pytest.mark.slow


async def test_kill_9_mid_stream_then_restart_loses_and_doubles_nothing(stack, settings, tmp_path):
    items = workload(random.Random(2026))
    worker = Pipeline(settings, tmp_path)
    worker.start()
    accepted: list[tuple[uuid.UUID, dict[str, Any]]] = []
    halfway = asyncio.Event()
    try:
        async with api_client(settings) as api:
            posting = asyncio.create_task(
                post_all(api, settings, items, accepted, halfway, len(items) // 3)
            )
            await asyncio.wait_for(halfway.wait(), timeout=120)
            await asyncio.to_thread(
                worker.kill
            )  # mid-stream: batches in flight, offsets not committed
            await asyncio.sleep(2)  # events keep arriving while no worker runs
            await asyncio.to_thread(worker.start)
            await asyncio.wait_for(posting, timeout=300)
        truth = ground_truth(accepted)
        users = set(truth["counts"])

        async def clickhouse_counts() -> dict[str, dict[str, int]]:
            return {
                user: {
                    k: v
                    for k, v in (
                        await asyncio.to_thread(worker.analytics, "viewer-events", user_id=user)
                    ).items()
                    if v
                }
                for user in users
            }

        # Converged means equal; nothing can overshoot and then come back down.
        await converged(settings, truth, 120)
        assert (
            await eventually(clickhouse_counts, lambda c: c == truth["counts"], 60)
            == truth["counts"]
        )
        for user in list(users)[:3]:
            daily = await asyncio.to_thread(
                worker.analytics,
                "viewer-daily",
                user_id=user,
                **{"from": T0.date().isoformat(), "to": T0.date().isoformat()},
            )
            expected = sum(v for (u, _), v in truth["watched"].items() if u == user)
            assert daily == [{"day": T0.date().isoformat(), "watched_seconds": expected}]
    finally:
        worker.stop()
    assert "Worker]: Ready" in worker.log_tail(400)
