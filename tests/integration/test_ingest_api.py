"""The ingest API against the real Kafka and registry: what is posted is what Kafka holds."""

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.api_support import api_client, auth_headers, end_offsets, read_events
from ugc.events import Family


@pytest.fixture(scope="module")
async def api(stack, settings):
    async with api_client(settings) as client:
        yield client


def _ts(dt: datetime) -> str:
    return dt.isoformat()


OTHER_SECRET = "a-different-secret-of-at-least-32-bytes"
CLIENT_TS = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=UTC)

CASES = [
    (
        "playback",
        Family.PLAYBACK,
        {"action": "seek_forward", "position_ms": 90_000, "from_position_ms": 30_000,
         "duration_ms": 5_400_000},
        {"action": "seek_forward", "position_ms": 90_000, "from_position_ms": 30_000,
         "duration_ms": 5_400_000},
    ),
    (
        "position",
        Family.PLAYBACK,
        {"position_ms": 120_500},
        {"action": "heartbeat", "position_ms": 120_500, "from_position_ms": None,
         "duration_ms": None},
    ),
    (
        "viewing",
        Family.VIEWING,
        {"watched_seconds": 300},
        {"watched_seconds": 300, "session_id": None},
    ),
    ("favourites", Family.FAVOURITES, {"action": "added"}, {"action": "added"}),
    ("ratings", Family.RATINGS, {"score": 8}, {"score": 8}),
    ("ratings", Family.RATINGS, {"score": None}, {"score": None}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "family", "body", "expected"), CASES)
async def test_posted_event_is_in_kafka_as_posted(api, settings, path, family, body, expected):
    user, movie, event_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    since = await end_offsets(settings, family)
    before = datetime.now(UTC)

    response = await api.post(
        f"/api/v1/events/{path}",
        json={
            "event_id": str(event_id),
            "movie_id": str(movie),
            "client_ts": _ts(CLIENT_TS),
            **body,
        },
        headers=auth_headers(settings, user),
    )

    assert response.status_code == 202, response.text
    assert response.json() == {"event_id": str(event_id), "status": "accepted"}
    found = await read_events(settings, family, since, {str(event_id)})
    key, record = found[str(event_id)]
    assert key == f"{user}:{movie}".encode()
    assert record["user_id"] == user
    assert record["movie_id"] == movie
    assert record["client_ts"] == CLIENT_TS
    assert before <= record["server_ts"] <= datetime.now(UTC)
    assert {k: record[k] for k in expected} == expected


async def test_server_makes_an_event_id_when_the_client_has_none(api, settings):
    since = await end_offsets(settings, Family.VIEWING)
    response = await api.post(
        "/api/v1/events/viewing",
        json={"movie_id": str(uuid.uuid4()), "watched_seconds": 5},
        headers=auth_headers(settings),
    )
    assert response.status_code == 202
    event_id = response.json()["event_id"]
    assert uuid.UUID(event_id).version == 4
    found = await read_events(settings, Family.VIEWING, since, {event_id})
    assert found[event_id][1]["client_ts"] == found[event_id][1]["server_ts"]


async def test_batch_of_mixed_events_reports_each_item(api, settings):
    user, movie = uuid.uuid4(), uuid.uuid4()
    since = {f: await end_offsets(settings, f) for f in (Family.PLAYBACK, Family.RATINGS)}
    events = [
        {"type": "playback", "movie_id": str(movie), "action": "play", "position_ms": 0},
        {"type": "rating", "movie_id": str(movie), "score": 11},
        {"type": "telepathy", "movie_id": str(movie)},
        {"type": "rating", "movie_id": str(movie), "score": 7},
    ]
    response = await api.post(
        "/api/v1/events/batch", json={"events": events}, headers=auth_headers(settings, user)
    )
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 2)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [202, 422, 422, 202]
    assert "score" in body["results"][1]["error"]
    assert "telepathy" in body["results"][2]["error"]
    played = body["results"][0]["event_id"]
    rated = body["results"][3]["event_id"]
    assert played in await read_events(settings, Family.PLAYBACK, since[Family.PLAYBACK], {played})
    found = await read_events(settings, Family.RATINGS, since[Family.RATINGS], {rated})
    assert found[rated][1]["score"] == 7


async def test_batch_of_only_invalid_events_is_422(api, settings):
    response = await api.post(
        "/api/v1/events/batch",
        json={"events": [{"type": "nope"}]},
        headers=auth_headers(settings),
    )
    assert response.status_code == 422
    assert response.json()["results"][0]["status"] == 422


async def test_batch_over_the_limit_is_refused(api, settings):
    events = [{"type": "position", "movie_id": str(uuid.uuid4()), "position_ms": 1}]
    events *= settings.batch_max_events + 1
    response = await api.post(
        "/api/v1/events/batch", json={"events": events}, headers=auth_headers(settings)
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("events:")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("playback", {"action": "rewind", "position_ms": 0}, "body.action"),
        ("playback", {"action": "play", "position_ms": -5}, "body.position_ms"),
        ("playback", {"action": "play"}, "body.position_ms"),
        ("position", {"position_ms": "soon"}, "body.position_ms"),
        ("viewing", {"watched_seconds": 0}, "body.watched_seconds"),
        ("ratings", {"score": 11}, "body.score"),
        ("ratings", {}, "body.score"),
        ("favourites", {"action": "liked"}, "body.action"),
        ("favourites", {"action": "added", "user_id": str(uuid.uuid4())}, "body.user_id"),
        ("viewing", {"watched_seconds": 10, "client_ts": "2026-11-01T10:00:00"}, "body.client_ts"),
    ],
)
async def test_invalid_body_is_422_naming_the_field(api, settings, path, body, field):
    response = await api.post(
        f"/api/v1/events/{path}",
        json={"movie_id": str(uuid.uuid4()), **body},
        headers=auth_headers(settings),
    )
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_bad_movie_id_and_seek_direction_are_422(api, settings):
    bad_id = await api.post(
        "/api/v1/events/viewing",
        json={"movie_id": "not-a-uuid", "watched_seconds": 1},
        headers=auth_headers(settings),
    )
    assert bad_id.status_code == 422 and "body.movie_id" in bad_id.json()["detail"]
    backwards = await api.post(
        "/api/v1/events/playback",
        json={"movie_id": str(uuid.uuid4()), "action": "seek_forward", "position_ms": 10,
              "from_position_ms": 500},
        headers=auth_headers(settings),
    )  # fmt: skip
    assert backwards.status_code == 422 and "seek_forward" in backwards.json()["detail"]


async def test_client_clock_far_ahead_is_422(api, settings):
    future = datetime.now(UTC) + timedelta(seconds=settings.max_clock_skew_s + 60)
    response = await api.post(
        "/api/v1/events/position",
        json={"movie_id": str(uuid.uuid4()), "position_ms": 1, "client_ts": _ts(future)},
        headers=auth_headers(settings),
    )
    assert response.status_code == 422
    assert "client_ts" in response.json()["detail"]


def _in(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def _token(claims: dict, key: str, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}


@pytest.mark.parametrize(
    ("headers_of", "reason"),
    [
        (lambda s: {}, "missing bearer token"),
        (lambda s: {"Authorization": "Basic dXNlcjpwYXNz"}, "missing bearer token"),
        (lambda s: {"Authorization": "Bearer not.a.jwt"}, "invalid token"),
        (
            lambda s: _token({"sub": str(uuid.uuid4()), "exp": _in(1)}, OTHER_SECRET),
            "invalid token",
        ),
        (
            lambda s: _token({"sub": str(uuid.uuid4()), "exp": _in(-1)}, s.jwt_secret),
            "token expired",
        ),
        (
            lambda s: _token({"sub": "alice", "exp": _in(1)}, s.jwt_secret),
            "sub is not a UUID",
        ),
        (lambda s: _token({"sub": str(uuid.uuid4())}, s.jwt_secret), "exp"),
    ],
)  # fmt: skip
async def test_bad_credentials_are_401(api, settings, headers_of, reason):
    response = await api.post(
        "/api/v1/events/viewing",
        json={"movie_id": str(uuid.uuid4()), "watched_seconds": 1},
        headers=headers_of(settings),
    )
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_rs256_tokens_from_the_auth_service_are_accepted(stack, settings, tmp_path):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "auth.pub").write_bytes(public_pem)
    rs_settings = settings.model_copy(
        update={"jwt_algorithm": "RS256", "jwt_public_key_file": tmp_path / "auth.pub"}
    )
    claims = {"sub": str(uuid.uuid4()), "exp": _in(1)}
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    body = {"movie_id": str(uuid.uuid4()), "watched_seconds": 1}
    async with api_client(rs_settings) as client:
        good = await client.post(
            "/api/v1/events/viewing", json=body, headers=_token(claims, private_pem, "RS256")
        )
        forged = await client.post(
            "/api/v1/events/viewing", json=body, headers=_token(claims, settings.jwt_secret)
        )
    assert good.status_code == 202
    assert forged.status_code == 401


async def test_health_ready_and_metrics(api, settings):
    assert (await api.get("/api/v1/health")).json() == {"status": "ok"}
    ready = await api.get("/api/v1/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"kafka": "ok", "schema_registry": "ok"}

    await api.post(
        "/api/v1/events/favourites",
        json={"movie_id": str(uuid.uuid4()), "action": "removed"},
        headers=auth_headers(settings),
    )
    metrics = (await api.get("/metrics")).text
    assert 'ugc_events_produced_total{type="favourite"}' in metrics
    assert (
        'ugc_http_requests_total{method="POST",route="/api/v1/events/favourites",status="202"}'
        in metrics
    )
    assert "ugc_http_request_duration_seconds_bucket" in metrics


async def test_openapi_documents_the_endpoints_and_bearer_auth(api):
    spec = (await api.get("/api/v1/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in ("playback", "position", "viewing", "favourites", "ratings", "batch"):
        operation = spec["paths"][f"/api/v1/events/{path}"]["post"]
        assert {"HTTPBearer": []} in operation["security"]
        assert {"202", "401", "422", "503"} <= operation["responses"].keys()
    page = await api.get("/api/v1/openapi")
    assert page.status_code == 200 and "swagger" in page.text.lower()
