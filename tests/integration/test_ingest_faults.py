"""The API while a real dependency is down: 503 with Retry-After in bounded time, never a 202."""

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from infra.stack.manager import Stack
from infra.stack.process import wait_until
from tests.api_support import api_client, auth_headers, end_offsets, read_events
from ugc.events import Family


@pytest.fixture
def restart_after(stack: Stack) -> Iterator[list[str]]:
    """Names of components the test stopped; they are started again whatever happens."""
    stopped: list[str] = []
    yield stopped
    for name in stopped:
        stack.start(stack.component(name), lambda line: None)


def _viewing(movie: uuid.UUID, event_id: uuid.UUID) -> dict[str, object]:
    return {"event_id": str(event_id), "movie_id": str(movie), "watched_seconds": 42}


@pytest.mark.slow
async def test_503_while_kafka_is_down_then_202_when_it_is_back(stack, settings, restart_after):
    headers = auth_headers(settings)
    async with api_client(settings) as api:
        warm = await api.post(
            "/api/v1/events/viewing", json=_viewing(uuid.uuid4(), uuid.uuid4()), headers=headers
        )
        assert warm.status_code == 202

        assert await asyncio.to_thread(stack.component("kafka").process.stop)
        restart_after.append("kafka")
        movie, event_id = uuid.uuid4(), uuid.uuid4()
        started = time.monotonic()
        down = await api.post(
            "/api/v1/events/viewing", json=_viewing(movie, event_id), headers=headers
        )
        elapsed = time.monotonic() - started

        assert down.status_code == 503
        assert down.headers["Retry-After"] == str(settings.retry_after_s)
        assert "kafka" in down.json()["detail"]
        assert elapsed < settings.produce_timeout_s + 2
        batch = await api.post(
            "/api/v1/events/batch",
            json={"events": [{"type": "viewing", **_viewing(movie, uuid.uuid4())}]},
            headers=headers,
        )
        assert batch.status_code == 503 and batch.json()["results"][0]["status"] == 503
        ready = await api.get("/api/v1/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"] != "ok"

        await asyncio.to_thread(stack.start, stack.component("kafka"), lambda line: None)
        restart_after.clear()
        since = await end_offsets(settings, Family.VIEWING)

        # The client retries with the same event_id until the API accepts it again.
        async def retry_until_accepted() -> int:
            while True:
                again = await api.post(
                    "/api/v1/events/viewing", json=_viewing(movie, event_id), headers=headers
                )
                if again.status_code == 202:
                    return again.status_code
                assert again.status_code == 503
                await asyncio.sleep(0.5)

        assert await asyncio.wait_for(retry_until_accepted(), timeout=60) == 202
        found = await read_events(settings, Family.VIEWING, since, {str(event_id)})
        assert found[str(event_id)][1]["watched_seconds"] == 42


@pytest.mark.slow
async def test_503_while_the_registry_is_down(stack, settings, restart_after):
    headers = auth_headers(settings)
    assert await asyncio.to_thread(stack.component("registry").process.stop)
    restart_after.append("registry")
    # A fresh process has no schema ids cached yet, so it needs the registry for its first event.
    async with api_client(settings) as api:
        started = time.monotonic()
        down = await api.post(
            "/api/v1/events/viewing", json=_viewing(uuid.uuid4(), uuid.uuid4()), headers=headers
        )
        assert time.monotonic() - started < settings.registry_timeout_s + 2
        assert down.status_code == 503
        assert down.headers["Retry-After"] == str(settings.retry_after_s)
        assert "schema registry" in down.json()["detail"]
        ready = await api.get("/api/v1/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"] == "ok"

        await asyncio.to_thread(stack.start, stack.component("registry"), lambda line: None)
        restart_after.clear()
        assert wait_until(lambda: stack.component("registry").health().ok, 60)
        back = await api.post(
            "/api/v1/events/viewing", json=_viewing(uuid.uuid4(), uuid.uuid4()), headers=headers
        )
        assert back.status_code == 202
