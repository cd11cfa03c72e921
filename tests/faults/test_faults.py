"""Faults under load on a 3-node Kafka cluster: each scenario posts a bounded mixed load through
the API (nginx in front), does one fault in the middle of it, repairs it, then checks MongoDB
and ClickHouse against the ground truth of what got a 202. Nothing accepted may be lost or
counted twice; a client may only ever get a 202, a 207 or a 503 with Retry-After."""

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.stack.manager import Stack
from tests.api_support import auth_headers
from tests.faults.check import Figures, settled_figures
from tests.faults.conftest import Workers
from tests.faults.faults import kill_9, leaders_node, signal_group
from tests.faults.load import Load, mixed_events
from tests.server_support import ApiServer
from ugc.events import DEAD_LETTER, topic_name
from ugc.settings import Settings

pytestmark = pytest.mark.slow

EVENTS = 5000  # per scenario, plus 5% client retries
RATE = 250.0  # events per second: about 20 s of load
CONVERGE_S = 120.0  # bound on the stores catching up once the load ended (they need ~10 s)


async def _scenario(
    name: str,
    settings: Settings,
    api_url: str,
    workers: Workers,
    record: Callable[[Figures, dict[str, Any]], None],
    fault: Callable[[Load], Awaitable[None]],
    seed: int,
    events: int = EVENTS,
) -> tuple[Figures, Load]:
    """Run the load with `fault` done in its middle; record and return the figures."""
    load = Load(settings, api_url, mixed_events(random.Random(seed), events), rate=RATE)
    began = time.monotonic()
    posting = asyncio.create_task(load.run())
    try:
        await fault(load)
    finally:
        await posting  # bounded by the load's own deadline
    load_s = time.monotonic() - began
    figures, detail = await settled_figures(name, load, workers, settings, load_s, CONVERGE_S)
    record(figures, detail)
    assert figures.accepted > events * 0.99, (detail, figures)
    assert (figures.lost, figures.doubled, figures.wrong) == (0, 0, 0), (detail, figures)
    assert (figures.http_5xx, figures.unanswered) == (0, 0), (detail, figures)
    assert not load.writes.bad and not load.reads.bad, detail
    return figures, load


async def test_kill_9_the_leaders_broker_then_restart_it(
    restored: Stack, settings, api_server, workers, record
):
    async def fault(load: Load) -> None:
        await load.reached(0.25)
        node = leaders_node(restored, settings)
        await asyncio.to_thread(kill_9, node)
        await load.reached(0.6)
        await asyncio.to_thread(restored.start, node, lambda line: None)

    await _scenario(
        "kill -9 the leaders' broker", settings, api_server.through_nginx, workers, record, fault, 1
    )


async def test_pause_a_broker_longer_than_the_produce_timeout(
    restored: Stack, settings, api_server, workers, record
):
    async def fault(load: Load) -> None:
        await load.reached(0.25)
        node = leaders_node(restored, settings)
        signal_group(node, signal.SIGSTOP)
        try:
            await asyncio.sleep(settings.produce_timeout_s + 3)  # the fault's length, not a wait
        finally:
            signal_group(node, signal.SIGCONT)

    await _scenario(
        "SIGSTOP a broker past the produce timeout",
        settings,
        api_server.through_nginx,
        workers,
        record,
        fault,
        2,
    )


async def test_kill_9_one_of_two_projections_workers_then_restart_it(
    restored: Stack, settings, api_server, workers, record
):
    async def fault(load: Load) -> None:
        await load.reached(0.3)
        await asyncio.to_thread(workers.second.kill)
        await load.reached(0.6)
        await asyncio.to_thread(workers.second.start)

    await _scenario(
        "kill -9 one of two projections workers",
        settings,
        api_server.through_nginx,
        workers,
        record,
        fault,
        3,
    )
    assert (await asyncio.to_thread(workers.second.health)).status_code == 200


async def test_projections_workers_leave_and_join_over_and_over(
    restored: Stack, settings, api_server, workers, record
):
    """Six rebalances in one load: graceful stops, a kill -9 of the first worker, restarts.
    Each one seeks the partitions back to their committed offsets while messages fetched before
    it are still on their way to the agents (the path where Faust once skipped events)."""

    steps: list[tuple[float, Callable[[], Any]]] = [
        (0.1, workers.second.stop),
        (0.2, workers.second.start),
        (0.35, workers.projections.kill),
        (0.5, workers.projections.start),
        (0.65, workers.second.stop),
        (0.75, workers.second.start),
    ]

    async def fault(load: Load) -> None:
        for share, step in steps:
            await load.reached(share)
            await asyncio.to_thread(step)

    await _scenario(
        "projections workers leave and join six times",
        settings,
        api_server.through_nginx,
        workers,
        record,
        fault,
        6,
        events=2 * EVENTS,
    )
    for worker in (workers.projections, workers.second):
        assert (await asyncio.to_thread(worker.health)).status_code == 200


async def test_stop_mongodb_reads_503_writes_202_then_exact(
    restored: Stack, settings, api_server, workers, record
):
    mongo = [restored.component("ferretdb"), restored.component("postgres")]

    async def fault(load: Load) -> None:
        await load.reached(0.25)
        for component in mongo:
            assert await asyncio.to_thread(component.process.stop)
        seen = load.reads.statuses[503]
        deadline = time.monotonic() + 30
        while load.reads.statuses[503] == seen:  # a reader got its 503 while MongoDB is down
            assert time.monotonic() < deadline, f"no read answered 503: {load.reads.statuses}"
            await asyncio.sleep(0.2)
        await load.reached(0.7)
        await asyncio.to_thread(restored.start_all, list(reversed(mongo)), lambda line: None)

    _, load = await _scenario(
        "stop MongoDB (FerretDB and PostgreSQL)",
        settings,
        api_server.through_nginx,
        workers,
        record,
        fault,
        4,
    )
    assert load.writes.statuses[503] == 0, load.writes.statuses  # writes never need MongoDB


async def _dead_letters_end(settings: Settings) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        partition = TopicPartition(topic_name(settings, DEAD_LETTER), 0)
        return (await consumer.end_offsets([partition]))[partition]
    finally:
        await consumer.stop()


async def test_stop_the_registry_fresh_api_503_worker_waits_nothing_dead_lettered(
    restored: Stack, settings, api_server, workers, record, tmp_path
):
    registry = restored.component("registry")
    dead_letters_before = await _dead_letters_end(settings)

    async def fault(load: Load) -> None:
        await load.reached(0.25)
        assert await asyncio.to_thread(registry.process.stop)
        # A fresh API process has no schema ids cached: it must answer 503, not guess.
        fresh_settings = settings.model_copy(update={"api_port": settings.api_port + 2})
        fresh = ApiServer(fresh_settings, tmp_path / "fresh-api.log")
        await asyncio.to_thread(fresh.start)
        try:
            async with httpx.AsyncClient(base_url=fresh.direct, timeout=15) as client:
                event = {"movie_id": str(load.accepted[0][1]["movie_id"]), "watched_seconds": 5}
                answer = await client.post(
                    "/api/v1/events/viewing", json=event, headers=auth_headers(settings)
                )
            assert answer.status_code == 503 and answer.headers["Retry-After"], answer.text
            assert "schema registry" in answer.json()["detail"]
        finally:
            await asyncio.to_thread(fresh.stop)
        # A fresh raw-events worker (no schema cached) reads on while the registry is down.
        await asyncio.to_thread(workers.raw.stop)
        await asyncio.to_thread(workers.raw.start)
        await load.reached(0.7)
        await asyncio.to_thread(restored.start, registry, lambda line: None)

    await _scenario(
        "stop the schema registry",
        settings,
        api_server.through_nginx,
        workers,
        record,
        fault,
        5,
    )
    assert await _dead_letters_end(settings) == dead_letters_before
    assert "schema registry unavailable" in workers.raw.log_tail(2000)
