"""The analysts' dashboard against the real stack: events through the API, the raw-events worker
into ClickHouse, the page on the worker's port drawing them in a real headless Chromium.

The seeded period is three days nothing was stored in yet (a year back, where no other test
writes; each run of the suite takes the next free one), so its numbers are exact; the last
hour's chart also holds other tests' events, so it is checked for at least ours.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser

from tests.api_support import api_client, auth_headers
from tests.browser_support import PageLog, chart_marks, chromium, line_heights
from tests.worker_support import Worker, eventually
from ugc.settings import PROJECT_ROOT, Settings
from ugc.tokens import mint, mint_analyst_token
from ugc_cli.analytics import dashboard_url

pytestmark = pytest.mark.slow

ARTIFACTS = PROJECT_ROOT / "artifacts"
DAYS = 3
DURATION_MS = 6_000_000
FAMILIES = ["playback", "viewing", "favourites", "ratings"]


@dataclass(frozen=True)
class Seeded:
    first_day: date
    films: dict[str, uuid.UUID]

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=DAYS - 1)

    def at(self, day: int, hour: int) -> str:
        return datetime.combine(self.first_day + timedelta(days=day), time(hour), UTC).isoformat()

    def period(self) -> dict[str, str]:
        return {"from": str(self.first_day), "to": str(self.last_day + timedelta(days=1))}


@pytest.fixture(scope="module")
def raw_worker(stack, settings: Settings, tmp_path_factory) -> Iterator[Worker]:
    worker = Worker(settings, tmp_path_factory.mktemp("dashboard") / "raw.log", "streams.raw_app")
    worker.start()
    yield worker
    worker.stop()


async def _free_days(worker: Worker, settings: Settings) -> date:
    """The first of DAYS days, within the API's reach (a year back), that hold no event yet."""
    first = datetime.now(UTC).date() - timedelta(days=settings.max_event_age_days - 5)
    for _ in range(100):
        period = Seeded(first, {}).period()
        views = ("top-films", "completion", "rating-distribution")
        answers = [await _analytics(worker, settings, view, period) for view in views]
        if not answers[0] and not answers[1] and not any(r["viewers"] for r in answers[2]):
            return first
        first += timedelta(days=DAYS)
    raise AssertionError("no free days left in the test stack: `ugc stack down`, remove it")


@pytest.fixture(scope="module")
async def seeded(raw_worker: Worker, settings: Settings) -> Seeded:
    """Three films watched, played, rated (and one favourite) by three viewers over 3 days."""
    seed = Seeded(await _free_days(raw_worker, settings), {})
    _at = seed.at
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    u0, u1, u2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events: list[tuple[uuid.UUID, str, dict[str, Any]]] = [
        # watch time: A 3600 + 1800 s, B 1800 s, C 900 s; per day 5400, 1800, 900 s
        (u0, "viewing", {"movie_id": a, "watched_seconds": 3600, "client_ts": _at(0, 20)}),
        (u1, "viewing", {"movie_id": b, "watched_seconds": 1800, "client_ts": _at(0, 21)}),
        (u1, "viewing", {"movie_id": a, "watched_seconds": 1800, "client_ts": _at(1, 20)}),
        (u2, "viewing", {"movie_id": c, "watched_seconds": 900, "client_ts": _at(2, 20)}),
        # completion: A one of two viewers reached 95%, B its one viewer
        (u0, "playback", _play(a, "play", 0, _at(0, 19))),
        (u0, "playback", _play(a, "stop", 5_900_000, _at(0, 21))),
        (u1, "playback", _play(a, "pause", 1_000_000, _at(1, 19))),
        (u1, "playback", _play(b, "stop", 5_800_000, _at(0, 22))),
        # ratings of A: 8; 6 then 9; 4 then removed. Of B: 10.
        (u0, "ratings", {"movie_id": a, "score": 8, "client_ts": _at(0, 22)}),
        (u1, "ratings", {"movie_id": a, "score": 6, "client_ts": _at(0, 22)}),
        (u1, "ratings", {"movie_id": a, "score": 9, "client_ts": _at(1, 22)}),
        (u2, "ratings", {"movie_id": a, "score": 4, "client_ts": _at(0, 23)}),
        (u2, "ratings", {"movie_id": a, "score": None, "client_ts": _at(1, 23)}),
        (u0, "ratings", {"movie_id": b, "score": 10, "client_ts": _at(0, 23)}),
        (u0, "favourites", {"movie_id": a, "action": "added", "client_ts": _at(0, 23)}),
    ]
    async with api_client(settings) as api:
        for user, path, body in events:
            body = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in body.items()}
            response = await api.post(
                f"/api/v1/events/{path}", json=body, headers=auth_headers(settings, user)
            )
            assert response.status_code == 202, response.text

    period = seed.period()

    async def stored() -> list[Any]:
        return [
            await _analytics(raw_worker, settings, "top-films", period),
            await _analytics(raw_worker, settings, "rating-distribution", period),
            await _analytics(raw_worker, settings, "completion", period),
        ]

    def complete(answers: list[Any]) -> bool:
        top, ratings, completion = answers
        return (
            len(top) == 3
            and sum(r["viewers"] for r in ratings) == 3
            and sum(r["viewers"] for r in completion) == 3
        )

    await eventually(stored, complete, timeout_s=60)
    return Seeded(seed.first_day, {"A": a, "B": b, "C": c})


def _play(movie: uuid.UUID, action: str, position_ms: int, at: str) -> dict[str, Any]:
    return {
        "movie_id": movie,
        "action": action,
        "position_ms": position_ms,
        "duration_ms": DURATION_MS,
        "client_ts": at,
    }


async def _analytics(worker: Worker, settings: Settings, view: str, params: dict[str, str]) -> Any:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(
            f"{worker.web}/analytics/{view}",
            params=params,
            headers={"Authorization": f"Bearer {mint_analyst_token(settings)}"},
        )
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


def _shape(markers: list[float]) -> float:
    """Three points' values as drawn, whatever the axis' scale: how far the third lies from the
    first, in units of the second's distance from it (on the screen, in pixels)."""
    y0, y1, y2 = markers
    return (y2 - y0) / (y1 - y0)


def _assert_clean(log: PageLog, origin: str) -> None:
    assert not log.errors, "\n".join(log.errors + log.warnings)
    # Offline: every script, style and data call comes from the worker itself.
    assert log.requests and all(url.startswith(f"{origin}/") for url in log.requests), log.requests


async def test_dashboard_draws_every_chart(browser, raw_worker, settings, seeded):
    a, day0 = seeded.films["A"], seeded.first_day
    url, caveat = dashboard_url(settings)  # what `make run` prints
    assert "#token=" in url, caveat
    page_url = url.replace("#", f"?from={day0}&to={seeded.last_day}#")
    page = await browser.new_page(viewport={"width": 1400, "height": 1300})
    log = PageLog()
    log.watch(page)
    await page.goto(page_url)
    marks = await chart_marks(page)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"  # kept for people to look at (gitignored)
    await page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 10_000

    assert all(m["state"] == "drawn" for m in marks.values()), marks
    # Watch time per day: one line through three days of 1.5 h, 0.5 h and 0.25 h.
    daily = marks["chart-daily"]
    assert len(daily["lines"]) == 1 and _shape(daily["markers"]) == pytest.approx(1.25, rel=0.02)
    # Top films by watch time and completion: bars labelled with the numbers (first on top).
    top = marks["chart-top"]
    assert top["bars"] == 3, top
    assert top["barTexts"] == ["0.25 h, 1 viewers", "0.5 h, 1 viewers", "1.5 h, 2 viewers"], top
    completion = marks["chart-completion"]
    assert completion["bars"] == 2 and completion["barTexts"] == ["100% of 1", "50% of 2"]
    # Ratings of all films: one viewer each for 8, 9 (6 replaced) and 10; 4 was removed.
    ratings = marks["chart-ratings"]
    assert ratings["bars"] == 3 and [t for t in ratings["barTexts"] if t] == ["1", "1", "1"]
    # The last hour: a line per family, each rising above zero somewhere (ours are in it).
    live = marks["chart-live"]
    assert live["legend"] == FAMILIES and len(live["lines"]) == 4, live
    for family, path in zip(FAMILIES, live["lines"], strict=True):
        heights = line_heights(path)
        assert min(heights) < max(heights), (family, path)
    # The token left the address bar; the period is in the query string, to be shared.
    assert "token" not in page.url and f"from={day0}" in page.url

    # The film picker: film A only.
    await page.select_option("#film", str(a))
    marks = await chart_marks(page)
    ratings = marks["chart-ratings"]
    assert ratings["bars"] == 2 and [t for t in ratings["barTexts"] if t] == ["1", "1"], ratings
    daily = marks["chart-daily"]  # 1 h, 0.5 h, nothing on the third day
    assert _shape(daily["markers"]) == pytest.approx(2.0, rel=0.02), daily
    assert f"film={a}" in page.url

    # The period picker: the second day alone.
    await page.fill("#from", str(day0 + timedelta(days=1)))
    await page.fill("#to", str(day0 + timedelta(days=1)))
    await page.click("#pickers button[type=submit]")
    marks = await chart_marks(page)
    assert marks["chart-top"]["barTexts"] == ["0.5 h, 1 viewers"], marks["chart-top"]
    assert len(marks["chart-daily"]["markers"]) == 1, marks["chart-daily"]
    _assert_clean(log, raw_worker.web)
    await page.close()


async def test_without_a_token_the_page_asks_for_one(browser, raw_worker, settings, seeded):
    page = await browser.new_page()
    log = PageLog()
    log.watch(page)
    await page.goto(f"{raw_worker.web}/dashboard?from={seeded.first_day}&to={seeded.last_day}")
    await page.wait_for_selector("#token-form", state="visible")
    # No token, no data call: nothing is asked that would be refused.
    assert not any("/analytics/" in url for url in log.requests), log.requests
    await page.fill("#token-input", mint_analyst_token(settings))
    await page.click("#token-form button[type=submit]")
    marks = await chart_marks(page)
    assert all(m["state"] == "drawn" for m in marks.values()), marks
    assert marks["chart-top"]["bars"] == 3
    _assert_clean(log, raw_worker.web)
    await page.close()


async def test_a_viewers_token_is_refused_and_the_page_says_so(browser, raw_worker, settings):
    viewer = mint(settings, str(uuid.uuid4()), timedelta(minutes=5))
    page = await browser.new_page()
    await page.goto(f"{raw_worker.web}/dashboard#token={viewer}")
    marks = await chart_marks(page)
    assert all(m["state"] == "error" for m in marks.values()), marks
    assert await page.is_visible("#token-form")
    assert "role 'analyst'" in await page.text_content("#token-reason")
    await page.close()


@pytest.mark.parametrize(
    ("view", "query"),
    [
        ("watch-time-per-day", {"movie_id": "not-a-film"}),
        ("watch-time-per-day", {"from": "2001-01-01", "to": "2026-01-01"}),
        ("rating-distribution", {"movie_id": "123"}),
        ("rating-distribution", {"from": "2026-02-01", "to": "2026-01-01"}),
        ("events-per-minute", {"minutes": "0"}),
        ("events-per-minute", {"minutes": "a lot"}),
    ],
)
def test_bad_parameters_are_422_naming_them(raw_worker, settings, view, query):
    response = httpx.get(
        f"{raw_worker.web}/analytics/{view}",
        params=query,
        headers={"Authorization": f"Bearer {mint_analyst_token(settings)}"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].split(":")[0] in query


def test_the_new_views_answer_analysts_only(raw_worker, settings):
    viewer = auth_headers(settings)
    for view in ("watch-time-per-day", "rating-distribution", "events-per-minute"):
        url = f"{raw_worker.web}/analytics/{view}"
        assert httpx.get(url).status_code == 401, view
        assert httpx.get(url, headers=viewer).status_code == 403, view


def test_the_page_is_static_and_locked_to_its_origin(raw_worker):
    page = httpx.get(f"{raw_worker.web}/dashboard")
    assert page.status_code == 200 and "<title>UGC analytics</title>" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    plotly = httpx.get(f"{raw_worker.web}/dashboard/plotly.min.js")
    assert plotly.status_code == 200 and b"plotly.js" in plotly.content[:200]
    for name in ("web.py", "..%2Fweb.py", "__init__.py"):
        assert httpx.get(f"{raw_worker.web}/dashboard/{name}").status_code == 404, name
