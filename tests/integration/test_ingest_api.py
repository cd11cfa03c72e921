"""The ingest API against the real Kafka and registry: what is posted is what Kafka holds."""

import socket
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ingest_api.models import MAX_MEDIA_MS
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
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (0, 1)
    assert body["results"][0]["status"] == 422
    assert "nope" in body["detail"]  # the documented error field, as on every other 422


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


# --- client_ts: bounded in the past as well as in the future ---

TOO_OLD = "0001-01-01T00:00:00+14:00"  # was accepted, then crashed the worker


def _days_ago(days: float) -> str:
    return _ts(datetime.now(UTC) - timedelta(days=days))


@pytest.mark.parametrize(
    "client_ts_of",
    [
        lambda s: TOO_OLD,
        lambda s: "1899-12-31T23:59:59Z",  # before ClickHouse's DateTime64
        lambda s: _days_ago(s.max_event_age_days + 1),
    ],
    ids=["year-1", "year-1899", "age-plus-a-day"],
)
async def test_client_clock_far_behind_is_422_naming_the_field(api, settings, client_ts_of):
    response = await api.post(
        "/api/v1/events/position",
        json={"movie_id": str(uuid.uuid4()), "position_ms": 1, "client_ts": client_ts_of(settings)},
        headers=auth_headers(settings),
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body.client_ts: ")
    assert [e["field"] for e in response.json()["errors"]] == ["body.client_ts"]


async def test_oldest_accepted_client_time_reaches_kafka(api, settings):
    old = datetime.now(UTC) - timedelta(days=settings.max_event_age_days - 1)
    old = old.replace(microsecond=old.microsecond // 1000 * 1000)  # Avro keeps milliseconds
    since = await end_offsets(settings, Family.VIEWING)
    response = await api.post(
        "/api/v1/events/viewing",
        json={"movie_id": str(uuid.uuid4()), "watched_seconds": 5, "client_ts": _ts(old)},
        headers=auth_headers(settings),
    )
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]
    found = await read_events(settings, Family.VIEWING, since, {event_id})
    assert found[event_id][1]["client_ts"] == old


async def test_max_event_age_days_is_the_setting(stack, settings):
    young = settings.model_copy(update={"max_event_age_days": 2})
    async with api_client(young) as client:
        responses = [
            await client.post(
                "/api/v1/events/favourites",
                json={"movie_id": str(uuid.uuid4()), "action": "added", "client_ts": when},
                headers=auth_headers(settings),
            )
            for when in (_days_ago(1), _days_ago(3))
        ]
    assert [r.status_code for r in responses] == [202, 422]
    assert "2 days" in responses[1].json()["detail"]


async def test_batch_refuses_only_the_items_with_a_bad_client_time(api, settings):
    movie = str(uuid.uuid4())
    events = [
        {"type": "favourite", "movie_id": movie, "action": "added", "client_ts": TOO_OLD},
        {"type": "favourite", "movie_id": movie, "action": "added", "client_ts": _ts(_in(0))},
        {"type": "favourite", "movie_id": movie, "action": "added", "client_ts": _ts(_in(60))},
    ]
    response = await api.post(
        "/api/v1/events/batch", json={"events": events}, headers=auth_headers(settings)
    )
    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["status"] for r in results] == [422, 202, 422]
    assert results[0]["error"].startswith("events.0.client_ts: ")
    assert results[2]["error"].startswith("events.2.client_ts: ")


# --- integers: within what Avro, MongoDB and ClickHouse hold, and physically meaningful ---

OVERSIZED = [2**63, 2**64, MAX_MEDIA_MS + 1]
INTEGER_FIELDS = [
    ("playback", "position_ms", {"action": "play"}),
    ("playback", "from_position_ms", {"action": "seek_backward", "position_ms": 0}),
    ("playback", "duration_ms", {"action": "play", "position_ms": 0}),
    ("position", "position_ms", {}),
    ("position", "duration_ms", {"position_ms": 0}),
    ("viewing", "watched_seconds", {}),
    ("ratings", "score", {}),
]


@pytest.mark.parametrize("value", OVERSIZED, ids=["2**63", "2**64", "max-plus-1"])
@pytest.mark.parametrize(("path", "field", "body"), INTEGER_FIELDS)
async def test_integers_beyond_the_bounds_are_422_naming_the_field(
    api, settings, path, field, body, value
):
    response = await api.post(
        f"/api/v1/events/{path}",
        json={"movie_id": str(uuid.uuid4()), **body, field: value},
        headers=auth_headers(settings),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]


async def test_batch_refuses_only_the_items_with_oversized_integers(api, settings):
    movie = str(uuid.uuid4())
    events = [
        {"type": "position", "movie_id": movie, "position_ms": 2**63},
        {"type": "playback", "movie_id": movie, "action": "play", "position_ms": 0,
         "duration_ms": 2**64},
        {"type": "position", "movie_id": movie, "position_ms": 1},
    ]  # fmt: skip
    response = await api.post(
        "/api/v1/events/batch", json={"events": events}, headers=auth_headers(settings)
    )
    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["status"] for r in results] == [422, 422, 202]
    assert results[0]["error"].startswith("events.0.position_ms: ")
    assert results[1]["error"].startswith("events.1.duration_ms: ")


async def test_longest_film_reaches_kafka(api, settings):
    since = await end_offsets(settings, Family.PLAYBACK)
    response = await api.post(
        "/api/v1/events/playback",
        json={"movie_id": str(uuid.uuid4()), "action": "stop", "position_ms": MAX_MEDIA_MS,
              "duration_ms": MAX_MEDIA_MS},
        headers=auth_headers(settings),
    )  # fmt: skip
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]
    record = (await read_events(settings, Family.PLAYBACK, since, {event_id}))[event_id][1]
    assert (record["position_ms"], record["duration_ms"]) == (MAX_MEDIA_MS, MAX_MEDIA_MS)


# --- strict types: an integer is a JSON integer, a date-time is an RFC 3339 string ---

LAX_VALUES = [
    ("ratings", {"score": False}, "score"),
    ("ratings", {"score": True}, "score"),
    ("ratings", {"score": "5"}, "score"),
    ("ratings", {"score": 5.0}, "score"),
    ("playback", {"action": "play", "position_ms": True}, "position_ms"),
    ("playback", {"action": "seek_forward", "position_ms": 9, "from_position_ms": 5.0},
     "from_position_ms"),
    ("position", {"position_ms": "5"}, "position_ms"),
    ("position", {"position_ms": 5.0}, "position_ms"),
    ("position", {"position_ms": 1, "duration_ms": "100"}, "duration_ms"),
    ("viewing", {"watched_seconds": "5"}, "watched_seconds"),
    ("viewing", {"watched_seconds": 5.0}, "watched_seconds"),
    ("viewing", {"watched_seconds": True}, "watched_seconds"),
    ("viewing", {"watched_seconds": 5, "client_ts": 0}, "client_ts"),
    ("viewing", {"watched_seconds": 5, "client_ts": 1_800_000_000}, "client_ts"),
    ("viewing", {"watched_seconds": 5, "client_ts": 1.8e9}, "client_ts"),
    ("viewing", {"watched_seconds": 5, "client_ts": "1800000000"}, "client_ts"),
    ("viewing", {"watched_seconds": 5, "client_ts": True}, "client_ts"),
    ("favourites", {"action": "added", "client_ts": "2026-11-01 12:00:00Z"}, "client_ts"),
]  # fmt: skip
BATCH_TYPE = {"ratings": "rating", "favourites": "favourite"}


@pytest.mark.parametrize(("path", "body", "field"), LAX_VALUES)
async def test_lax_types_are_422_naming_the_field(api, settings, path, body, field):
    response = await api.post(
        f"/api/v1/events/{path}",
        json={"movie_id": str(uuid.uuid4()), **body},
        headers=auth_headers(settings),
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]


@pytest.mark.parametrize(("path", "body", "field"), LAX_VALUES)
async def test_lax_types_in_a_batch_fail_only_their_item(api, settings, path, body, field):
    valid_id = str(uuid.uuid4())  # UUIDs are still read from strings
    events = [
        {"type": "favourite", "event_id": valid_id, "movie_id": str(uuid.uuid4()),
         "action": "added", "client_ts": _ts(_in(0))},
        {"type": BATCH_TYPE.get(path, path), "movie_id": str(uuid.uuid4()), **body},
    ]  # fmt: skip
    response = await api.post(
        "/api/v1/events/batch", json={"events": events}, headers=auth_headers(settings)
    )
    assert response.status_code == 207
    accepted, refused = response.json()["results"]
    assert (accepted["status"], accepted["event_id"]) == (202, valid_id)
    assert refused["status"] == 422
    assert refused["error"].startswith(f"events.1.{field}: ")


# --- error bodies: JSON with `detail`, as documented ---


async def test_batch_none_stored_is_503_with_detail_and_results(stack, settings):
    no_kafka = settings.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{_closed_port()}", "produce_timeout_s": 1.0}
    )
    events = [
        {"type": "viewing", "movie_id": str(uuid.uuid4()), "watched_seconds": 1},
        {"type": "rating", "movie_id": str(uuid.uuid4()), "score": 5},
    ]
    async with api_client(no_kafka) as client:
        response = await client.post(
            "/api/v1/events/batch", json={"events": events}, headers=auth_headers(settings)
        )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(settings.retry_after_s)
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (0, 2)
    assert [r["status"] for r in body["results"]] == [503, 503]
    assert "kafka" in body["detail"]


UNREADABLE_BODIES = [
    b'{"movie_id": "\xff\xfe", "score": 1}',  # not UTF-8
    b"[" * 1000 + b"]" * 1000,  # nested deeper than the parser goes
    b'{"events": [' + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b"]}",
]


@pytest.mark.parametrize("path", ["ratings", "batch"])
@pytest.mark.parametrize("content", UNREADABLE_BODIES, ids=["utf8", "array", "object"])
async def test_unreadable_body_is_400_json_with_detail(api, settings, path, content):
    response = await api.post(
        f"/api/v1/events/{path}",
        content=content,
        headers={**auth_headers(settings), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["detail"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        documented = {"202", "400", "401", "408", "413", "422", "429", "503"}
        assert documented <= operation["responses"].keys()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            # nginx answers these on every path; 429 and 503 say when to come back.
            assert {"413", "429", "503"} <= responses.keys(), (method, path)
            assert responses["429"]["headers"]["Retry-After"]["required"], (method, path)
            assert responses["503"]["headers"]["Retry-After"]["required"], (method, path)
            for error in ("400", "401", "408", "413", "422", "429"):
                if error in responses and (error, path) != ("422", "/api/v1/events/batch"):
                    schema = responses[error]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, error)
    batch = spec["paths"]["/api/v1/events/batch"]["post"]["responses"]
    for failed in ("422", "503"):
        shapes = batch[failed]["content"]["application/json"]["schema"]["anyOf"]
        assert {shape["$ref"].rsplit("/", 1)[1] for shape in shapes} == {
            "BatchFailure",
            "ErrorBody",
        }
    failure = spec["components"]["schemas"]["BatchFailure"]
    assert {"detail", "accepted", "rejected", "results"} <= set(failure["required"])
    page = await api.get("/api/v1/openapi")
    assert page.status_code == 200 and "swagger" in page.text.lower()
