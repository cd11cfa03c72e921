"""Erasing a viewer (GDPR) on the real stack: DELETE /api/v1/me and `ugc erase`.

The viewer has data in every store; more of their events are still waiting in Kafka (the
workers are paused) when the erasure is asked, and they send more after its 202. Then the
workers are killed (-9) while they erase and restarted. In the end nothing from before the
erasure is left anywhere, what they sent after it is there, and every film's total is exact.
"""

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sinks.mongo.client import mongo_client
from tests.api_support import api_client, auth_headers
from tests.worker_support import Pipeline, eventually
from tests.workload import T0, converged, ground_truth, post_all
from ugc.erasure import expected_parts

pytestmark = pytest.mark.slow
Item = tuple[uuid.UUID, dict[str, Any]]


def _events(rng: random.Random, user: uuid.UUID, films: list[uuid.UUID], start) -> list[Item]:
    """Watch time, a position, a rating and a favourite change per film, twice."""
    items: list[Item] = []
    for film in films:
        for step in range(2):
            ts = (start + timedelta(minutes=step * 7 + rng.randint(0, 5))).isoformat()
            base = {"movie_id": str(film), "client_ts": ts}
            kinds: list[dict[str, Any]] = [
                {"type": "viewing", "watched_seconds": rng.randint(1, 600)},
                {"type": "position", "position_ms": rng.randint(1, 5_000_000)},
                {"type": "rating", "score": rng.choice([None, *range(11)])},
                {"type": "favourite", "action": rng.choice(["added", "removed"])},
            ]
            items += [(user, {**base, **k, "event_id": str(uuid.uuid4())}) for k in kinds]
    rng.shuffle(items)
    return items


def _pause(pipeline: Pipeline, sig: signal.Signals) -> None:
    for worker in (pipeline.projections, pipeline.raw):
        assert worker.process is not None
        os.killpg(worker.process.pid, sig)


async def _viewer_documents(settings, user: uuid.UUID) -> dict[str, dict[str, Any]]:
    client = mongo_client(settings)
    try:
        db = client[settings.mongo_db]
        return {
            name: {
                d["movie_id"]: d.get("score")
                for d in await db[name].find({"user_id": str(user)}).to_list(None)
            }
            for name in ("progress", "favourites", "user_ratings")
        }
    finally:
        await client.close()


async def _clickhouse_matches(pipeline: Pipeline, truth: dict[str, Any]) -> None:
    async def counts() -> dict[str, dict[str, int]]:
        found = {}
        for user in truth["counts"]:
            row = await asyncio.to_thread(pipeline.analytics, "viewer-events", user_id=user)
            found[user] = {family: n for family, n in row.items() if n}
        return found

    await eventually(counts, lambda c: c == truth["counts"], 60)


async def _status(api: httpx.AsyncClient, settings, user: uuid.UUID, erasure_id: str) -> dict:
    response = await api.get(
        f"/api/v1/me/erasure/{erasure_id}", headers=auth_headers(settings, user)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_erasure_in_flight_and_through_a_crash_leaves_nothing(pipeline, settings):
    rng = random.Random(2027)
    viewer, others = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    films = [uuid.uuid4() for _ in range(6)]
    before = [i for user in (viewer, *others) for i in _events(rng, user, films, T0)]
    async with api_client(settings) as api:
        await post_all(api, settings, before, accepted := [])
        settled = ground_truth(accepted)
        await converged(settings, settled, 60)  # the viewer is in every store
        await _clickhouse_matches(pipeline, settled)

        _pause(pipeline, signal.SIGSTOP)  # what follows waits in Kafka
        try:
            in_flight = [i for user in (viewer, *others) for i in _events(rng, user, films, T0)]
            await post_all(api, settings, in_flight, accepted)
            response = await api.delete("/api/v1/me", headers=auth_headers(settings, viewer))
            assert response.status_code == 202, response.text
            erasure_id = response.json()["erasure_id"]
            assert response.headers["Location"] == f"/api/v1/me/erasure/{erasure_id}"
            # After the 202: kept, even with client times older than what was erased.
            viewer_after = _events(rng, viewer, films[:2], T0 - timedelta(hours=1))
            after = viewer_after + [i for user in others for i in _events(rng, user, films, T0)]
            await post_all(api, settings, after, accepted)
        finally:
            _pause(pipeline, signal.SIGCONT)

        status = await _status(api, settings, viewer, erasure_id)
        assert status["parts_total"] == len(expected_parts(settings))
        # Kill -9 once the erasure is under way, and restart: redelivered markers erase again.
        await eventually(
            lambda: _status(api, settings, viewer, erasure_id), lambda s: s["parts_done"] > 0, 60
        )
        await asyncio.to_thread(pipeline.kill)
        await asyncio.to_thread(pipeline.start)
        done = await eventually(
            lambda: _status(api, settings, viewer, erasure_id),
            lambda s: s["status"] == "complete",
            90,
        )
        assert done["parts_done"] == done["parts_total"] and done["pending"] == []

    kept = [(user, item) for user, item in accepted if user != viewer] + viewer_after
    truth = ground_truth(kept)
    # Films' totals are the other viewers' and the viewer's ratings since the erasure.
    await converged(settings, truth, 60)
    await _clickhouse_matches(pipeline, truth)
    documents = await _viewer_documents(settings, viewer)
    kept_films = {str(film) for film in films[:2]}
    assert set(documents["progress"]) == set(documents["favourites"]) == kept_films
    ratings = sorted(
        (item["client_ts"], item["event_id"], item["movie_id"], item["score"])
        for _, item in viewer_after
        if item["type"] == "rating"
    )
    assert documents["user_ratings"] == {film: score for _, _, film, score in ratings}
    daily = await asyncio.to_thread(
        pipeline.analytics,
        "viewer-daily",
        user_id=str(viewer),
        **{"from": (T0 - timedelta(days=1)).date().isoformat(), "to": T0.date().isoformat()},
    )
    watched = sum(v for (u, _), v in truth["watched"].items() if u == str(viewer))
    assert sum(day["watched_seconds"] for day in daily) == watched


async def test_operators_erase_with_the_command_line(pipeline, settings):
    viewer, film = uuid.uuid4(), uuid.uuid4()
    items = _events(random.Random(5), viewer, [film], T0)
    async with api_client(settings) as api:
        await post_all(api, settings, items, accepted := [])
    await converged(settings, ground_truth(accepted), 60)

    ugc = str(Path(sys.prefix) / "bin" / "ugc")
    erased = await asyncio.to_thread(
        subprocess.run,
        [ugc, "erase", "--user", str(viewer), "--wait", "90"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert '"status":"complete"' in erased.stdout
    assert await _viewer_documents(settings, viewer) == {
        "progress": {},
        "favourites": {},
        "user_ratings": {},
    }
    row = await asyncio.to_thread(pipeline.analytics, "viewer-events", user_id=str(viewer))
    assert not any(row.values()), row


async def test_erasure_requests_answer_4xx_and_503(stack, settings):
    viewer, stranger = uuid.uuid4(), uuid.uuid4()
    async with api_client(settings) as api:
        assert (await api.delete("/api/v1/me")).status_code == 401
        bad = await api.get("/api/v1/me/erasure/nope", headers=auth_headers(settings, viewer))
        assert bad.status_code == 422 and "erasure_id" in bad.json()["detail"]
        unknown = f"/api/v1/me/erasure/{uuid.uuid4()}"
        assert (await api.get(unknown, headers=auth_headers(settings, viewer))).status_code == 404

    no_kafka = settings.model_copy(
        update={"kafka_bootstrap": "127.0.0.1:9", "produce_timeout_s": 2}
    )
    async with api_client(no_kafka) as api:
        response = await api.delete("/api/v1/me", headers=auth_headers(settings, viewer))
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == str(settings.retry_after_s)
    async with api_client(settings) as api:
        # The request was recorded before its markers failed: it says so, to its viewer only.
        client = mongo_client(settings)
        try:
            row = await client[settings.mongo_db].erasures.find_one({"user_id": str(viewer)})
        finally:
            await client.close()
        assert row is not None
        path = f"/api/v1/me/erasure/{row['_id']}"
        status = await api.get(path, headers=auth_headers(settings, viewer))
        assert status.status_code == 200 and status.json()["status"] == "failed"
        assert (await api.get(path, headers=auth_headers(settings, stranger))).status_code == 404
