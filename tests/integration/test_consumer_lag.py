"""`ugc lag` and the workers' lag gauge: with the workers stopped, events posted make the lag
grow and `--max` fail; once the workers caught up, the lag is 0 and `--max 0` passes."""

import asyncio
import re
import time
import uuid

import httpx
import pytest

from schemas.codec import EventEncoder
from tests.ops_support import WORKER_GROUPS, lag_totals, produce, ugc
from tests.worker_support import Pipeline, eventually
from ugc.events import Family, topic_name

pytestmark = pytest.mark.slow
EVENTS = 20


async def _viewing(settings, count: int) -> list[tuple[str, bytes, bytes]]:
    encode = await EventEncoder(settings).encoder_of(Family.VIEWING)
    now = int(time.time() * 1000)
    user = uuid.uuid4()
    records = []
    for _ in range(count):
        film = uuid.uuid4()
        value = encode(
            {
                "event_id": str(uuid.uuid4()),
                "user_id": str(user),
                "movie_id": str(film),
                "client_ts": now,
                "server_ts": now,
                "watched_seconds": 30,
                "session_id": None,
            }
        )
        records.append((topic_name(settings, Family.VIEWING), f"{user}:{film}".encode(), value))
    return records


async def _gauges(pipeline: Pipeline) -> dict[str, int | None]:
    """Per worker group, the sum of its worker's lag gauge (None: no series exported yet)."""
    found: dict[str, int | None] = {}
    for worker, group in zip((pipeline.projections, pipeline.raw), WORKER_GROUPS, strict=True):
        response = await asyncio.to_thread(httpx.get, f"{worker.web}/metrics", timeout=5)
        series = rf'^ugc_worker_consumer_lag\{{group="{group}",[^}}]*\}} (\S+)$'
        values = re.findall(series, response.text, re.MULTILINE)
        found[group] = sum(int(float(v)) for v in values) if values else None
    return found


async def test_lag_grows_while_the_workers_are_stopped_and_drains_after(stack, settings, tmp_path):
    pipeline = Pipeline(settings, tmp_path)
    drained = {group: 0 for group in WORKER_GROUPS}
    try:
        pipeline.start()
        # Whatever earlier tests left is consumed first, so the counts below are exact.
        await eventually(lambda: lag_totals("--max", "0"), lambda r: r == (0, drained), 120)
        await eventually(lambda: _gauges(pipeline), lambda g: g == drained, 30)
        pipeline.stop()

        await produce(settings, await _viewing(settings, EVENTS))
        assert await lag_totals("--max", str(EVENTS - 1)) == (
            1,
            {g: EVENTS for g in WORKER_GROUPS},
        )
        await produce(settings, await _viewing(settings, EVENTS))
        assert await lag_totals("--max", str(EVENTS - 1)) == (
            1,
            {g: 2 * EVENTS for g in WORKER_GROUPS},
        )
        assert (await lag_totals("--max", str(2 * EVENTS)))[0] == 0  # at the threshold is fine

        pipeline.start()
        await eventually(lambda: lag_totals("--max", "0"), lambda r: r == (0, drained), 120)
        await eventually(lambda: _gauges(pipeline), lambda g: g == drained, 30)
        status = await ugc("stack", "status")
        for group in WORKER_GROUPS:
            assert re.search(rf"^group\s+{group}\s+lag 0 ", status.stdout, re.M), status.stdout
    finally:
        pipeline.stop()
