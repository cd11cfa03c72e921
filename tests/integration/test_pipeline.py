"""The whole path on the real stack: API -> Kafka -> Faust worker -> MongoDB / ClickHouse -> API."""

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.api_support import api_client, auth_headers, end_offsets
from tests.worker_support import Pipeline, eventually
from ugc.events import DEAD_LETTER, Family, topic_name
from ugc.tokens import mint_analyst_token

pytestmark = pytest.mark.slow

# Five days ago at 20:00 UTC: within what the API accepts; T0 + 3 days is still in the past.
T0 = (datetime.now(UTC) - timedelta(days=5)).replace(hour=20, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def worker(pipeline: Pipeline) -> Pipeline:
    return pipeline


@pytest.fixture(scope="module")
async def api(worker, settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings) as client:
        yield client


async def _post(api: httpx.AsyncClient, path: str, user: uuid.UUID, settings, **body) -> str:
    body = {k: str(v) if isinstance(v, uuid.UUID | datetime) else v for k, v in body.items()}
    if isinstance(body.get("client_ts"), str):
        body["client_ts"] = body["client_ts"].replace(" ", "T")
    response = await api.post(
        f"/api/v1/events/{path}", json=body, headers=auth_headers(settings, user)
    )
    assert response.status_code == 202, response.text
    return response.json()["event_id"]


async def _get(api: httpx.AsyncClient, path: str, user: uuid.UUID, settings) -> httpx.Response:
    return await api.get(f"/api/v1{path}", headers=auth_headers(settings, user))


async def test_events_show_up_in_the_read_api(api, settings):
    user, film, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _post(
        api,
        "playback",
        user,
        settings,
        movie_id=film,
        action="play",
        position_ms=0,
        duration_ms=6_000_000,
        client_ts=T0,
    )
    await _post(
        api,
        "position",
        user,
        settings,
        movie_id=film,
        position_ms=60_000,
        duration_ms=6_000_000,
        client_ts=T0 + timedelta(minutes=1),
    )
    await _post(
        api,
        "viewing",
        user,
        settings,
        movie_id=film,
        watched_seconds=60,
        client_ts=T0 + timedelta(minutes=1),
    )
    await _post(api, "favourites", user, settings, movie_id=film, action="added", client_ts=T0)
    await _post(
        api,
        "favourites",
        user,
        settings,
        movie_id=other,
        action="added",
        client_ts=T0 + timedelta(seconds=1),
    )
    await _post(api, "ratings", user, settings, movie_id=film, score=9, client_ts=T0)

    progress = await eventually(
        lambda: _get(api, f"/me/progress/{film}", user, settings),
        lambda r: r.status_code == 200 and r.json()["watched_seconds"] == 60,
    )
    assert progress.json()["position_ms"] == 60_000
    assert progress.json()["finished"] is False
    favourites = await eventually(
        lambda: _get(api, "/me/favourites", user, settings),
        # The page and its total are two reads: wait until both show the second favourite.
        lambda r: r.status_code == 200 and r.json()["total"] == len(r.json()["items"]) == 2,
    )
    assert [item["movie_id"] for item in favourites.json()["items"]] == [str(other), str(film)]
    rating = await eventually(
        lambda: _get(api, f"/films/{film}/rating", user, settings), lambda r: r.status_code == 200
    )
    assert rating.json()["count"] == 1 and rating.json()["average"] == 9
    watching = await _get(api, "/me/progress", user, settings)
    assert [item["movie_id"] for item in watching.json()["items"]] == [str(film)]
    assert (await _get(api, f"/me/progress/{film}", uuid.uuid4(), settings)).status_code == 404


async def test_out_of_order_positions_keep_the_newest(api, settings):
    user, film = uuid.uuid4(), uuid.uuid4()
    await _post(
        api,
        "position",
        user,
        settings,
        movie_id=film,
        position_ms=300_000,
        client_ts=T0 + timedelta(minutes=5),
    )
    # Arrives later, happened earlier (a phone that was offline): must not move the resume point.
    await _post(
        api,
        "position",
        user,
        settings,
        movie_id=film,
        position_ms=100_000,
        client_ts=T0 + timedelta(minutes=2),
    )
    await _post(
        api,
        "viewing",
        user,
        settings,
        movie_id=film,
        watched_seconds=1,
        client_ts=T0 + timedelta(minutes=2),
    )
    progress = await eventually(
        lambda: _get(api, f"/me/progress/{film}", user, settings),
        lambda r: r.status_code == 200 and r.json()["watched_seconds"] == 1,
    )
    assert progress.json()["position_ms"] == 300_000


async def test_changed_and_removed_ratings_keep_the_film_totals_exact(api, settings):
    film = uuid.uuid4()
    alice, bob, carol = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _post(api, "ratings", alice, settings, movie_id=film, score=4, client_ts=T0)
    await _post(api, "ratings", bob, settings, movie_id=film, score=8, client_ts=T0)
    await _post(api, "ratings", carol, settings, movie_id=film, score=10, client_ts=T0)
    await _post(
        api, "ratings", alice, settings, movie_id=film, score=6, client_ts=T0 + timedelta(minutes=1)
    )
    await _post(
        api,
        "ratings",
        carol,
        settings,
        movie_id=film,
        score=None,
        client_ts=T0 + timedelta(minutes=1),
    )
    await _post(
        api, "ratings", bob, settings, movie_id=film, score=1, client_ts=T0 - timedelta(minutes=1)
    )
    # An event retried by the client (same event_id) counts once.
    retry = {
        "movie_id": film,
        "score": 2,
        "client_ts": T0 + timedelta(minutes=2),
        "event_id": uuid.uuid4(),
    }
    dave = uuid.uuid4()
    await _post(api, "ratings", dave, settings, **retry)
    await _post(api, "ratings", dave, settings, **retry)

    # alice 6, bob 8, dave 2 -> sum 16, count 3. Earlier states pass by on the way (alice 6,
    # bob 8, carol 10 is also three ratings), so wait for the final one, then check it holds.
    final = {"movie_id": str(film), "average": round(16 / 3, 2), "count": 3}
    rating = await eventually(
        lambda: _get(api, f"/films/{film}/rating", alice, settings),
        lambda r: r.status_code == 200 and r.json() == final,
    )
    assert rating.json() == final
    assert (await _get(api, f"/me/ratings/{film}", carol, settings)).status_code == 404
    own = await _get(api, f"/me/ratings/{film}", alice, settings)
    assert own.json()["score"] == 6


async def test_clickhouse_counts_equal_what_was_accepted(api, worker, settings):
    user = uuid.uuid4()
    films = [uuid.uuid4() for _ in range(3)]
    accepted = {family: set() for family in ("playback", "viewing", "favourites", "ratings")}
    for film in films:
        accepted["playback"].add(
            await _post(
                api,
                "playback",
                user,
                settings,
                movie_id=film,
                action="play",
                position_ms=0,
                client_ts=T0,
            )
        )
        accepted["playback"].add(
            await _post(
                api, "position", user, settings, movie_id=film, position_ms=5000, client_ts=T0
            )
        )
        accepted["viewing"].add(
            await _post(
                api, "viewing", user, settings, movie_id=film, watched_seconds=120, client_ts=T0
            )
        )
        accepted["favourites"].add(
            await _post(api, "favourites", user, settings, movie_id=film, action="added")
        )
        accepted["ratings"].add(await _post(api, "ratings", user, settings, movie_id=film, score=7))
    # The same viewing event posted again (a client retry): one row, one sum.
    again = uuid.uuid4()
    for _ in range(2):
        accepted["viewing"].add(
            await _post(
                api,
                "viewing",
                user,
                settings,
                movie_id=films[0],
                watched_seconds=30,
                client_ts=T0,
                event_id=again,
            )
        )
    expected = {family: len(ids) for family, ids in accepted.items()}

    async def counts() -> dict[str, int]:
        return await asyncio.to_thread(worker.analytics, "viewer-events", user_id=str(user))

    assert await eventually(counts, lambda c: c == expected, timeout_s=30) == expected
    daily = worker.analytics(
        "viewer-daily",
        user_id=str(user),
        **{"from": T0.date().isoformat(), "to": T0.date().isoformat()},
    )
    assert daily == [{"day": T0.date().isoformat(), "watched_seconds": 3 * 120 + 30}]


async def test_poison_message_goes_to_the_dead_letter_topic_and_the_worker_goes_on(
    api, worker, settings
):
    dlq = topic_name(settings, DEAD_LETTER)
    since = await end_offsets(settings, Family.VIEWING)  # noqa: F841 — the topic exists
    consumer = AIOKafkaConsumer(
        dlq,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="latest",
        group_id=f"t-{uuid.uuid4().hex[:6]}",
    )
    await consumer.start()
    try:
        await eventually(lambda: _assigned(consumer), bool)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        poison = b"not avro at all " + uuid.uuid4().bytes
        try:
            await producer.send_and_wait(topic_name(settings, Family.VIEWING), poison, key=b"x")
        finally:
            await producer.stop()
        record = await asyncio.wait_for(_first_with_value(consumer, poison), timeout=30)
    finally:
        await consumer.stop()
    headers = dict(record.headers)
    assert headers["ugc-dlq-topic"] == topic_name(settings, Family.VIEWING).encode()
    assert headers["ugc-dlq-reason"]
    metrics = (await asyncio.to_thread(httpx.get, f"{worker.raw.web}/metrics")).text
    viewing = topic_name(settings, Family.VIEWING)
    assert (
        f'ugc_worker_dead_letters_total{{reason="{headers["ugc-dlq-reason"].decode()}",topic="{viewing}"}}'
        in metrics
    )
    # The worker goes on: a valid event after the poison one is projected.
    user, film = uuid.uuid4(), uuid.uuid4()
    await _post(api, "viewing", user, settings, movie_id=film, watched_seconds=5, client_ts=T0)
    await eventually(
        lambda: _get(api, f"/me/progress/{film}", user, settings),
        lambda r: r.status_code == 200 and r.json()["watched_seconds"] == 5,
    )


async def _assigned(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=200)
    return bool(consumer.assignment())


async def _first_with_value(consumer: AIOKafkaConsumer, value: bytes):
    while True:
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                if record.value == value:
                    return record


async def test_analytics_answer_through_the_running_worker(api, worker, settings):
    film = uuid.uuid4()
    day = T0 + timedelta(days=3)
    finisher, dropper = uuid.uuid4(), uuid.uuid4()
    for viewer, position in ((finisher, 5_800_000), (dropper, 600_000)):
        await _post(
            api,
            "playback",
            viewer,
            settings,
            movie_id=film,
            action="stop",
            position_ms=position,
            duration_ms=6_000_000,
            client_ts=day,
        )
        await _post(
            api, "viewing", viewer, settings, movie_id=film, watched_seconds=600, client_ts=day
        )
    period = {
        "from": day.isoformat(),
        "to": (day + timedelta(hours=1)).isoformat(),
        "limit": "1000",
    }

    async def completion() -> list[dict]:
        rows = await asyncio.to_thread(worker.analytics, "completion", **period)
        return [row for row in rows if row["movie_id"] == str(film)]

    rows = await eventually(completion, lambda r: bool(r) and r[0]["viewers"] == 2)
    assert rows[0]["finished"] == 1 and rows[0]["completion_rate"] == 0.5

    cli = await asyncio.create_subprocess_exec(
        str(Path(sys.prefix) / "bin" / "ugc"), "analytics", "top-films",
        "--from", period["from"], "--to", period["to"], "--limit", "1000",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await cli.communicate()
    assert cli.returncode == 0
    top = [json.loads(line) for line in out.decode().splitlines()]
    assert {"movie_id": str(film), "watched_seconds": 1200, "viewers": 2} in top

    bad = await asyncio.to_thread(
        httpx.get,
        f"{worker.raw.web}/analytics/top-films?limit=0",
        headers={"Authorization": f"Bearer {mint_analyst_token(settings)}"},
    )
    assert bad.status_code == 422 and bad.json()["detail"].startswith("limit")


async def test_positions_of_the_same_millisecond_are_decided_by_event_id(api, settings):
    """Two heartbeats with one client time: the larger event id wins, whichever came first
    (as for favourites and ratings), so every replay ends the same way."""
    user = uuid.uuid4()
    low, high = sorted((uuid.uuid4(), uuid.uuid4()), key=str)
    films = {uuid.uuid4(): (low, high), uuid.uuid4(): (high, low)}  # film -> arrival order
    for film, order in films.items():
        for event_id in order:
            position = 1000 if event_id == low else 2000
            await _post(
                api,
                "position",
                user,
                settings,
                movie_id=film,
                position_ms=position,
                client_ts=T0,
                event_id=event_id,
            )
    for film in films:
        await eventually(
            lambda film=film: _get(api, f"/me/progress/{film}", user, settings),
            lambda r: r.status_code == 200,
        )
    # Both orders were applied (the second write of each film is the last one posted).
    for film in films:
        response = await _get(api, f"/me/progress/{film}", user, settings)
        assert response.json()["position_ms"] == 2000, (film, response.json())
