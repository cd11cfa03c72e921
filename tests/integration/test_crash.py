"""Crash test: kill -9 the worker in the middle of a stream, restart it, and the final MongoDB and
ClickHouse state equals the ground truth computed from what the API accepted."""

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sinks.mongo.client import mongo_client
from tests.api_support import api_client, auth_headers
from tests.worker_support import Worker, eventually

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)
USERS, FILMS = 12, 6


def _workload(rng: random.Random) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """(viewer, batch item) pairs: watch time, positions, ratings and favourites, shuffled, with
    client retries (the same event_id twice) and late events (older client time)."""
    users = [uuid.uuid4() for _ in range(USERS)]
    films = [uuid.uuid4() for _ in range(FILMS)]
    items: list[tuple[uuid.UUID, dict[str, Any]]] = []
    for user in users:
        for film in films:
            for step in range(4):
                ts = (T0 + timedelta(minutes=step * 7 + rng.randint(0, 5))).isoformat()
                base = {"movie_id": str(film), "client_ts": ts, "event_id": str(uuid.uuid4())}
                items.append(
                    (user, {**base, "type": "viewing", "watched_seconds": rng.randint(1, 600)})
                )
                items.append(
                    (
                        user,
                        {
                            **base,
                            "event_id": str(uuid.uuid4()),
                            "type": "position",
                            "position_ms": rng.randint(0, 5_000_000),
                        },
                    )
                )
                score = rng.choice([None, *range(11)])
                items.append(
                    (
                        user,
                        {**base, "event_id": str(uuid.uuid4()), "type": "rating", "score": score},
                    )
                )
                items.append(
                    (
                        user,
                        {
                            **base,
                            "event_id": str(uuid.uuid4()),
                            "type": "favourite",
                            "action": rng.choice(["added", "removed"]),
                        },
                    )
                )
    retries = rng.sample(items, len(items) // 20)
    rng.shuffle(items)
    return items + retries


def _ground_truth(accepted: list[tuple[uuid.UUID, dict[str, Any]]]) -> dict[str, Any]:
    distinct = {(user, item["event_id"]): (user, item) for user, item in accepted}.values()
    watched: dict[tuple[str, str], int] = defaultdict(int)
    newest: dict[tuple[str, str, str], tuple[str, str, Any]] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    family = {
        "viewing": "viewing",
        "position": "playback",
        "rating": "ratings",
        "favourite": "favourites",
    }
    for user, item in distinct:
        key = (str(user), item["movie_id"])
        counts[str(user)][family[item["type"]]] += 1
        if item["type"] == "viewing":
            watched[key] += item["watched_seconds"]
            continue
        value = {"position": "position_ms", "rating": "score", "favourite": "action"}[item["type"]]
        stamp = (item["client_ts"], item["event_id"])
        current = newest.get((*key, item["type"]))
        if current is None or stamp > current[:2]:
            newest[(*key, item["type"])] = (*stamp, item[value])
    films: dict[str, list[int]] = defaultdict(list)
    for (_user, film, kind), (_, _, score) in newest.items():
        if kind == "rating" and score is not None:
            films[film].append(score)
    return {
        "watched": dict(watched),
        "positions": {k[:2]: v[2] for k, v in newest.items() if k[2] == "position"},
        "favourites": {k[:2]: v[2] == "added" for k, v in newest.items() if k[2] == "favourite"},
        "film_totals": {film: (sum(s), len(s)) for film, s in films.items()},
        "counts": {user: dict(c) for user, c in counts.items()},
    }


async def _post_all(api, settings, items, accepted, progress: asyncio.Event, halfway: int) -> None:
    by_user: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for user, item in items:
        by_user[user].append(item)
    chunks = [
        (user, batch[i : i + 25])
        for user, batch in by_user.items()
        for i in range(0, len(batch), 25)
    ]
    random.Random(7).shuffle(chunks)
    for user, chunk in chunks:
        response = await api.post(
            "/api/v1/events/batch", json={"events": chunk}, headers=auth_headers(settings, user)
        )
        assert response.status_code == 202, response.text
        accepted.extend((user, item) for item in chunk)
        if len(accepted) >= halfway:
            progress.set()
        await asyncio.sleep(0.02)  # a steady stream rather than one burst


async def _mongo_state(settings, users: set[str]) -> dict[str, Any]:
    client = mongo_client(settings)
    try:
        db = client[settings.mongo_db]
        user_ids = sorted(users)
        progress = await db.progress.find({"user_id": {"$in": user_ids}}).to_list(None)
        favourites = await db.favourites.find({"user_id": {"$in": user_ids}}).to_list(None)
        films = {d["movie_id"] for d in progress}
        totals = await db.film_ratings.find({"movie_id": {"$in": list(films)}}).to_list(None)
    finally:
        await client.close()
    return {
        "watched": {
            (str(d["user_id"]), str(d["movie_id"])): d["watched_seconds"]
            for d in progress
            if d.get("watched_seconds")
        },
        "positions": {
            (str(d["user_id"]), str(d["movie_id"])): d["position_ms"]
            for d in progress
            if d.get("position_at")
        },
        "favourites": {(str(d["user_id"]), str(d["movie_id"])): d["active"] for d in favourites},
        "film_totals": {
            str(d["movie_id"]): (d["score_sum"], d["score_count"])
            for d in totals
            if d["score_count"]
        },
    }


async def test_kill_9_mid_stream_then_restart_loses_and_doubles_nothing(stack, settings, tmp_path):
    items = _workload(random.Random(2026))
    worker = Worker(settings, tmp_path / "worker.log")
    worker.start()
    accepted: list[tuple[uuid.UUID, dict[str, Any]]] = []
    halfway = asyncio.Event()
    try:
        async with api_client(settings) as api:
            posting = asyncio.create_task(
                _post_all(api, settings, items, accepted, halfway, len(items) // 3)
            )
            await asyncio.wait_for(halfway.wait(), timeout=120)
            await asyncio.to_thread(
                worker.kill
            )  # mid-stream: batches in flight, offsets not committed
            await asyncio.sleep(2)  # events keep arriving while no worker runs
            await asyncio.to_thread(worker.start)
            await asyncio.wait_for(posting, timeout=300)
        truth = _ground_truth(accepted)
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
        await eventually(lambda: _mongo_state(settings, users), lambda s: s == _subset(truth), 120)
        assert (
            await eventually(clickhouse_counts, lambda c: c == truth["counts"], 60)
            == truth["counts"]
        )
        for user in list(users)[:3]:
            daily = await asyncio.to_thread(
                worker.analytics,
                "viewer-daily",
                user_id=user,
                **{"from": "2026-11-02", "to": "2026-11-02"},
            )
            expected = sum(v for (u, _), v in truth["watched"].items() if u == user)
            assert daily == [{"day": "2026-11-02", "watched_seconds": expected}]
    finally:
        worker.stop()
    assert "Worker]: Ready" in worker.log_tail(400)


def _subset(truth: dict[str, Any]) -> dict[str, Any]:
    return {k: truth[k] for k in ("watched", "positions", "favourites", "film_totals")}
