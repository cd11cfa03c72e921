"""A mixed workload for the fault tests: every event family, client retries (the same event_id
twice), late and shuffled events; its ground truth; and the state the stores converged to."""

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sinks.mongo.client import mongo_client
from tests.api_support import auth_headers

# Two days ago at 18:00 UTC: within what the API accepts, all on one day.
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=18, minute=0, second=0, microsecond=0)
USERS, FILMS = 12, 6


def workload(rng: random.Random) -> list[tuple[uuid.UUID, dict[str, Any]]]:
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


def ground_truth(accepted: list[tuple[uuid.UUID, dict[str, Any]]]) -> dict[str, Any]:
    distinct = {(user, item["event_id"]): (user, item) for user, item in accepted}.values()
    watched: dict[tuple[str, str], int] = defaultdict(int)
    newest: dict[tuple[str, str, str], tuple[str, str, Any]] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    family = {
        "viewing": "viewing",
        "playback": "playback",
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
        # A playback action carries a position too: both move the resume point.
        kind = "position" if item["type"] == "playback" else item["type"]
        value = {"position": "position_ms", "rating": "score", "favourite": "action"}[kind]
        stamp = (item["client_ts"], item["event_id"])
        current = newest.get((*key, kind))
        if current is None or stamp > current[:2]:
            newest[(*key, kind)] = (*stamp, item[value])
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


async def post_all(
    api,
    settings,
    items,
    accepted,
    progress: asyncio.Event | None = None,
    halfway: int = 0,
    chunk_size: int = 25,
    pause_s: float = 0.02,
) -> None:
    """Post the items in batches of `chunk_size` per viewer, one every `pause_s` (a steady
    stream rather than one burst); `progress` is set once `halfway` items were accepted."""
    by_user: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for user, item in items:
        by_user[user].append(item)
    chunks = [
        (user, batch[i : i + chunk_size])
        for user, batch in by_user.items()
        for i in range(0, len(batch), chunk_size)
    ]
    random.Random(7).shuffle(chunks)
    for user, chunk in chunks:
        response = await api.post(
            "/api/v1/events/batch", json={"events": chunk}, headers=auth_headers(settings, user)
        )
        assert response.status_code == 202, response.text
        accepted.extend((user, item) for item in chunk)
        if progress is not None and len(accepted) >= halfway:
            progress.set()
        await asyncio.sleep(pause_s)


async def mongo_state(settings, users: set[str]) -> dict[str, Any]:
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


def subset(truth: dict[str, Any]) -> dict[str, Any]:
    return {k: truth[k] for k in ("watched", "positions", "favourites", "film_totals")}


def differences(state: dict[str, Any], truth: dict[str, Any], shown: int = 5) -> dict[str, Any]:
    """Per category, a few keys whose stored value is not the truth: (stored, true)."""
    found: dict[str, Any] = {}
    for category, expected in subset(truth).items():
        stored = state.get(category, {})
        wrong = [
            (key, stored.get(key), expected.get(key))
            for key in sorted(set(stored) | set(expected), key=str)
            if stored.get(key) != expected.get(key)
        ]
        if wrong:
            found[category] = {"count": len(wrong), "some": wrong[:shown]}
    return found


async def converged(settings, truth: dict[str, Any], timeout_s: float) -> None:
    """Wait until MongoDB holds exactly the truth; fail with what still differs."""
    users = set(truth["counts"])
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        state = await mongo_state(settings, users)
        if state == subset(truth):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"MongoDB differs after {timeout_s}s: {differences(state, truth)}")
        await asyncio.sleep(0.5)
