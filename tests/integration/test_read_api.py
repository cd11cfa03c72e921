"""The read API against the real FerretDB: what the projections hold is what the caller sees.

Documents are inserted with Beanie into a throwaway database, as the worker would write them,
with fresh viewers and films, then read back through the in-process app.
"""

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import PyMongoError

from ingest_api.routes.reads import MAX_OFFSET
from sinks.mongo.client import create_missing_indexes, init_documents, mongo_client
from sinks.mongo.documents import Favourite, FilmRating, Progress, UserRating
from tests.api_support import api_client, auth_headers
from ugc.settings import Settings

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FAVOURITES = "/api/v1/me/favourites"
CONTINUE = "/api/v1/me/progress"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def read_paths(movie: uuid.UUID | str) -> list[str]:
    return [
        FAVOURITES,
        CONTINUE,
        f"/api/v1/me/progress/{movie}",
        f"/api/v1/me/ratings/{movie}",
        f"/api/v1/films/{movie}/rating",
    ]


@pytest.fixture(scope="module")
async def read_settings(request, settings) -> AsyncIterator[Settings]:
    """The test stack's FerretDB with a throwaway database (indexes included).

    The stack is brought up only when FerretDB does not answer: `stack.up` would also restart
    a Kafka that a fault test stopped on purpose.
    """
    probe = mongo_client(settings, timeout_ms=2000)
    try:
        await probe.admin.command("ping")
    except PyMongoError:
        request.getfixturevalue("stack")
    finally:
        await probe.close()
    read_settings = settings.model_copy(update={"mongo_db": f"test_reads_{uuid.uuid4().hex[:8]}"})
    client = mongo_client(read_settings)
    await create_missing_indexes(client, read_settings)
    yield read_settings
    await client.drop_database(read_settings.mongo_db)
    await client.close()


@pytest.fixture(scope="module")
async def api(read_settings):
    async with api_client(read_settings) as client:
        yield client


@pytest.fixture(scope="module")
async def db_client(read_settings):
    client = mongo_client(read_settings)
    yield client
    await client.close()


@pytest.fixture
async def documents(api, db_client, read_settings):
    """Beanie bound to this module's own client before each test: every app's start-up rebinds
    the (process-wide) documents, and an app that has stopped has closed its client."""
    await init_documents(db_client, read_settings)


def closed_port() -> int:
    """A local port nothing listens on (reserved by the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unreachable(read_settings: Settings, port: int, timeout_s: float) -> Settings:
    return read_settings.model_copy(
        update={"mongo_url": f"mongodb://127.0.0.1:{port}/", "mongo_timeout_s": timeout_s}
    )


# --- favourites ---


async def add_favourite(user: uuid.UUID, movie: uuid.UUID, minute: int, active=True) -> None:
    await Favourite(user_id=user, movie_id=movie, active=active, changed_at=at(minute)).insert()


async def test_favourites_page_newest_first_without_removed_or_others(api, documents, settings):
    user, other = uuid.uuid4(), uuid.uuid4()
    films = [uuid.uuid4() for _ in range(5)]
    for minute, film in enumerate(films):
        await add_favourite(user, film, minute)
    await add_favourite(user, uuid.uuid4(), minute=10, active=False)  # newest, but removed
    others_film = uuid.uuid4()
    await add_favourite(other, others_film, minute=20)

    pages = []
    for offset in (0, 2, 4):
        response = await api.get(
            FAVOURITES,
            params={"limit": 2, "offset": offset},
            headers=auth_headers(settings, user),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["limit"], body["offset"], body["total"]) == (2, offset, 5)
        pages.append(body["items"])

    assert [len(page) for page in pages] == [2, 2, 1]
    items = [item for page in pages for item in page]
    assert [item["movie_id"] for item in items] == [str(f) for f in reversed(films)]
    assert [when(item["added_at"]) for item in items] == [at(m) for m in (4, 3, 2, 1, 0)]

    theirs = (await api.get(FAVOURITES, headers=auth_headers(settings, other))).json()
    assert theirs["total"] == 1
    assert [item["movie_id"] for item in theirs["items"]] == [str(others_film)]


async def test_default_page_and_past_the_end(api, documents, settings):
    user = uuid.uuid4()
    for minute in range(3):
        await add_favourite(user, uuid.uuid4(), minute)
    default = (await api.get(FAVOURITES, headers=auth_headers(settings, user))).json()
    assert (default["limit"], default["offset"], default["total"]) == (20, 0, 3)
    assert len(default["items"]) == 3
    past = await api.get(FAVOURITES, params={"offset": 3}, headers=auth_headers(settings, user))
    assert past.status_code == 200
    assert past.json() == {"items": [], "limit": 20, "offset": 3, "total": 3}


async def test_no_favourites_is_an_empty_page(api, documents, settings):
    response = await api.get(FAVOURITES, headers=auth_headers(settings, uuid.uuid4()))
    assert response.status_code == 200
    assert response.json() == {"items": [], "limit": 20, "offset": 0, "total": 0}


# --- progress ---


async def add_progress(
    user: uuid.UUID, movie: uuid.UUID, position_ms: int, minute: int, finished=False
) -> None:
    await Progress(
        user_id=user,
        movie_id=movie,
        position_ms=position_ms,
        position_at=at(minute),
        duration_ms=5_400_000,
        watched_seconds=position_ms // 1000,
        finished=finished,
        updated_at=at(minute),
    ).insert()


async def test_resume_point_is_the_callers_own(api, documents, settings):
    user, other, movie = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await add_progress(user, movie, position_ms=754_000, minute=7)

    response = await api.get(f"/api/v1/me/progress/{movie}", headers=auth_headers(settings, user))

    assert response.status_code == 200, response.text
    body = response.json()
    assert when(body.pop("updated_at")) == at(7)
    assert body == {
        "movie_id": str(movie),
        "position_ms": 754_000,
        "duration_ms": 5_400_000,
        "watched_seconds": 754,
        "finished": False,
    }
    for caller, film in ((other, movie), (user, uuid.uuid4())):
        missing = await api.get(
            f"/api/v1/me/progress/{film}", headers=auth_headers(settings, caller)
        )
        assert missing.status_code == 404
        assert missing.json() == {"detail": "no progress for this film"}


async def test_continue_watching_lists_started_unfinished_films_recent_first(
    api, documents, settings
):
    user, other = uuid.uuid4(), uuid.uuid4()
    older, newer, finished, not_started = (uuid.uuid4() for _ in range(4))
    await add_progress(user, older, position_ms=1_000, minute=1)
    await add_progress(user, newer, position_ms=3_000, minute=3)
    await add_progress(user, finished, position_ms=2_000, minute=5, finished=True)
    await add_progress(user, not_started, position_ms=0, minute=6)
    await add_progress(other, uuid.uuid4(), position_ms=9_000, minute=9)

    response = await api.get(CONTINUE, headers=auth_headers(settings, user))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["limit"] == 20
    assert [item["movie_id"] for item in body["items"]] == [str(newer), str(older)]
    assert body["items"][0]["position_ms"] == 3_000
    assert body["items"][0]["finished"] is False
    first = await api.get(CONTINUE, params={"limit": 1}, headers=auth_headers(settings, user))
    assert [item["movie_id"] for item in first.json()["items"]] == [str(newer)]


# --- ratings ---


async def test_film_rating_is_the_rounded_average_and_count(api, documents, settings):
    movie = uuid.uuid4()
    await FilmRating(movie_id=movie, score_sum=17, score_count=3, updated_at=at(0)).insert()

    response = await api.get(f"/api/v1/films/{movie}/rating", headers=auth_headers(settings))

    assert response.status_code == 200, response.text
    assert response.json() == {"movie_id": str(movie), "average": 5.67, "count": 3}


async def test_film_without_current_ratings_is_404(api, documents, settings):
    all_removed, never_rated = uuid.uuid4(), uuid.uuid4()
    await FilmRating(movie_id=all_removed, score_sum=0, score_count=0, updated_at=at(0)).insert()
    for movie in (all_removed, never_rated):
        response = await api.get(f"/api/v1/films/{movie}/rating", headers=auth_headers(settings))
        assert response.status_code == 404
        assert response.json() == {"detail": "no ratings for this film"}


async def test_own_rating_and_never_anothers_or_a_removed_one(api, documents, settings):
    user, other = uuid.uuid4(), uuid.uuid4()
    rated, removed, only_theirs = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await UserRating(user_id=user, movie_id=rated, score=7, changed_at=at(2)).insert()
    await UserRating(user_id=user, movie_id=removed, score=None, changed_at=at(3)).insert()
    await UserRating(user_id=other, movie_id=only_theirs, score=9, changed_at=at(4)).insert()

    mine = await api.get(f"/api/v1/me/ratings/{rated}", headers=auth_headers(settings, user))

    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert when(body.pop("rated_at")) == at(2)
    assert body == {"movie_id": str(rated), "score": 7}
    for caller, movie in ((user, removed), (user, only_theirs), (other, rated)):
        response = await api.get(
            f"/api/v1/me/ratings/{movie}", headers=auth_headers(settings, caller)
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "no rating of yours for this film"}


# --- validation and auth ---


@pytest.mark.parametrize(
    "template",
    ["/api/v1/me/progress/{}", "/api/v1/me/ratings/{}", "/api/v1/films/{}/rating"],
)
async def test_bad_movie_id_is_422_naming_the_field(api, settings, template):
    response = await api.get(template.format("not-a-uuid"), headers=auth_headers(settings))
    assert response.status_code == 422
    assert "path.movie_id" in response.json()["detail"]
    assert [e["field"] for e in response.json()["errors"]] == ["path.movie_id"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (FAVOURITES, {"limit": 0}, "query.limit"),
        (FAVOURITES, {"limit": 101}, "query.limit"),
        (FAVOURITES, {"limit": "ten"}, "query.limit"),
        (FAVOURITES, {"offset": -1}, "query.offset"),
        # Beyond MongoDB's int64 skip (was a 500), and beyond any viewer's favourites.
        (FAVOURITES, {"offset": 2**63}, "query.offset"),
        (FAVOURITES, {"offset": MAX_OFFSET + 1}, "query.offset"),
        (FAVOURITES, {"offset": "1.5"}, "query.offset"),
        (FAVOURITES, {"limit": 2**64}, "query.limit"),
        (CONTINUE, {"limit": 0}, "query.limit"),
        (CONTINUE, {"limit": 101}, "query.limit"),
    ],
)
async def test_bad_paging_is_422_naming_the_field(api, settings, path, params, field):
    response = await api.get(path, params=params, headers=auth_headers(settings))
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_deepest_page_is_an_empty_page(api, documents, settings):
    user = uuid.uuid4()
    await add_favourite(user, uuid.uuid4(), minute=0)
    response = await api.get(
        FAVOURITES, params={"offset": MAX_OFFSET}, headers=auth_headers(settings, user)
    )
    assert response.status_code == 200
    assert response.json() == {"items": [], "limit": 20, "offset": MAX_OFFSET, "total": 1}


@pytest.mark.parametrize("index", range(5))
async def test_no_token_is_401(api, index):
    response = await api.get(read_paths(uuid.uuid4())[index])
    assert response.status_code == 401
    assert response.json()["detail"] == "missing bearer token"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_openapi_documents_the_reads_and_metrics_label_routes(api, settings):
    spec = (await api.get("/api/v1/openapi.json")).json()
    movie = "{movie_id}"
    for path in read_paths(movie):
        operation = spec["paths"][path]["get"]
        assert operation["tags"] == ["reads"]
        assert {"HTTPBearer": []} in operation["security"]
        expected = {"200", "401", "413", "422", "429", "503"}  # 413, 429: nginx
        expected |= {"404"} if movie in path else set()
        assert set(operation["responses"]) == expected
        assert "$ref" in operation["responses"]["200"]["content"]["application/json"]["schema"]

    await api.get(f"/api/v1/me/progress/{uuid.uuid4()}", headers=auth_headers(settings))
    metrics = (await api.get("/metrics")).text
    assert (
        'ugc_http_requests_total{method="GET",route="/api/v1/me/progress/{movie_id}",status="404"}'
        in metrics
    )


# --- MongoDB unavailable ---


async def test_mongodb_unreachable_is_a_quick_503_and_writes_still_work(read_settings, settings):
    timeout_s = 0.5
    dead = unreachable(read_settings, closed_port(), timeout_s)
    headers = auth_headers(settings)
    async with api_client(dead) as client:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(client.get(path, headers=headers) for path in read_paths(uuid.uuid4()))
        )
        elapsed = time.monotonic() - started
        written = await client.post(
            "/api/v1/events/viewing",
            json={"movie_id": str(uuid.uuid4()), "watched_seconds": 1},
            headers=headers,
        )

    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == str(settings.retry_after_s)
        assert response.json()["detail"].startswith("mongodb unavailable")
    # Concurrent reads do not queue one timeout each behind the initialisation lock.
    assert elapsed < 3 * timeout_s
    assert written.status_code == 202, written.text


class Forwarder:
    """A TCP relay from a local port to FerretDB: MongoDB "coming back" on an address."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self._port, self._target = port, target
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for relay in self._relays:
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            relay = asyncio.create_task(self._pipe(source, sink))
            self._relays.add(relay)
            relay.add_done_callback(self._relays.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()


async def test_reads_recover_once_mongodb_answers(read_settings, documents, settings):
    user, movie = uuid.uuid4(), uuid.uuid4()
    await add_favourite(user, movie, minute=1)
    port = closed_port()
    forwarder = Forwarder(port, read_settings.mongo_host_port)
    headers = auth_headers(settings, user)
    try:
        async with api_client(unreachable(read_settings, port, timeout_s=1.5)) as client:
            before = await client.get(FAVOURITES, headers=headers)
            await forwarder.start()
            after = await client.get(FAVOURITES, headers=headers)
    finally:
        await forwarder.stop()

    assert before.status_code == 503
    assert after.status_code == 200, after.text
    assert [item["movie_id"] for item in after.json()["items"]] == [str(movie)]
