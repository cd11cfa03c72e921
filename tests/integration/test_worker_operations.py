"""The worker as operators see it: /health turns 503 when events wait and none is processed,
SIGTERM stops it within a bound even while its store is down, nothing is lost across that,
its web port is loopback only and answers nobody's viewer data without an analyst's token,
and its data folder is the stack's, not the directory it was started from."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from infra.stack.manager import Stack
from tests.api_support import api_client, auth_headers
from tests.worker_support import Worker, eventually
from ugc.tokens import mint, mint_analyst_token

pytestmark = pytest.mark.slow

STALL_AFTER_S = 3.0
STOP_BOUND_S = 15.0


@pytest.fixture
def mongo_restarted(stack: Stack) -> Iterator[None]:
    yield
    ferretdb = stack.component("ferretdb")
    if not ferretdb.health().ok:
        stack.start(ferretdb, lambda line: None)


async def test_stalled_worker_is_unhealthy_stops_in_bounded_time_and_loses_nothing(
    stack, settings, tmp_path, mongo_restarted
):
    env = {"UGC_WORKER_STALL_AFTER_S": str(STALL_AFTER_S)}
    worker = Worker(settings, tmp_path / "projections.log", env=env)
    worker.start()
    user, film = uuid.uuid4(), uuid.uuid4()
    try:
        await eventually(lambda: asyncio.to_thread(worker.health), lambda r: r.status_code == 200)
        assert await asyncio.to_thread(stack.component("ferretdb").process.stop)
        async with api_client(settings) as api:
            response = await api.post(
                "/api/v1/events/favourites",
                json={"movie_id": str(film), "action": "added"},
                headers=auth_headers(settings, user),
            )
            assert response.status_code == 202, response.text
        stalled = await eventually(
            lambda: asyncio.to_thread(worker.health), lambda r: r.status_code == 503, 60
        )
        report = stalled.json()
        assert report["status"] == "stalled" and report["unacked_events"] >= 1, report
        took = await asyncio.to_thread(worker.stop)
        assert took < STOP_BOUND_S, f"SIGTERM took {took:.1f}s with MongoDB down"
    finally:
        worker.stop()
        stack.start(stack.component("ferretdb"), lambda line: None)
    # The favourite waited in Kafka, unacknowledged: a new worker applies it.
    worker.start()
    try:
        async with api_client(settings) as api:
            await eventually(
                lambda: api.get("/api/v1/me/favourites", headers=auth_headers(settings, user)),
                lambda r: r.status_code == 200 and r.json()["total"] == 1,
                60,
            )
        health = await asyncio.to_thread(worker.health)
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        worker.stop()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.rpartition(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


def test_worker_ports_listen_on_loopback_only(pipeline):
    for worker in (pipeline.projections, pipeline.raw):
        addresses = _listening_addresses(worker.web_port)
        assert addresses == {"0100007F"}, (worker.app, addresses)  # 127.0.0.1


def test_analytics_answer_analysts_only(pipeline, settings):
    viewer = uuid.uuid4()
    views = {
        "viewer-daily": {"user_id": str(viewer)},
        "viewer-events": {"user_id": str(viewer)},
        "viewer-ingested": {"user_id": str(viewer), "since": "2026-01-01T00:00:00"},
        "top-films": {},
        "completion": {},
    }
    viewer_token = mint(settings, str(viewer), timedelta(minutes=5))
    forged = mint(
        settings.model_copy(
            update={"jwt_secret": "not-the-secret-of-this-service-at-all-0123456789"}
        ),
        "analyst",
        timedelta(minutes=5),
        role="analyst",
    )
    for view, params in views.items():
        url = f"{pipeline.raw.web}/analytics/{view}"
        assert httpx.get(url, params=params).status_code == 401, view
        bearer = {"Authorization": f"Bearer {forged}"}
        assert httpx.get(url, params=params, headers=bearer).status_code == 401, view
        # Even a viewer's own history is the API's to serve, not this port's.
        bearer = {"Authorization": f"Bearer {viewer_token}"}
        assert httpx.get(url, params=params, headers=bearer).status_code == 403, view
        bearer = {"Authorization": f"Bearer {mint_analyst_token(settings)}"}
        assert httpx.get(url, params=params, headers=bearer).status_code == 200, view


def test_faust_browsing_views_are_off(pipeline):
    for worker in (pipeline.projections, pipeline.raw):
        for path in ("/router/", "/table/", "/table/ratings-state/", "/graph/", "/stats/"):
            response = httpx.get(f"{worker.web}{path}")
            assert response.status_code == 404, (worker.app, path, response.text[:200])
        assert httpx.get(f"{worker.web}/health").status_code == 200
        assert "ugc_worker" in httpx.get(f"{worker.web}/metrics").text or worker.app


@pytest.mark.parametrize(
    "query",
    [
        {"from": "0001-01-01"},
        {"from": "2026-01-01", "to": "9999-12-31"},
        {"limit": "0"},
        {"limit": "x"},
        {"from": "yesterday"},
    ],
)
def test_analytics_bad_periods_are_422_naming_the_parameter(pipeline, settings, query):
    response = httpx.get(
        f"{pipeline.raw.web}/analytics/top-films",
        params=query,
        headers={"Authorization": f"Bearer {mint_analyst_token(settings)}"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].split(":")[0] in query


def test_worker_data_folder_is_the_stacks(pipeline, settings):
    for app_id in ("ugc-projections", "ugc-raw-events"):
        assert (settings.faust_data_dir / app_id).is_dir()
    from ugc.settings import PROJECT_ROOT

    assert not list(PROJECT_ROOT.glob("ugc-*-data"))
