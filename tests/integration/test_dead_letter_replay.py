"""`ugc dlq list | show | replay`: a viewing event parked because its writer schema was not
registered is replayed once the schema is, and counts once in MongoDB and ClickHouse, even
after a replay that crashed before recording what it sent and a second full replay."""

import asyncio
import io
import json
import struct
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import httpx
import pytest

from infra.ops.dead_letters import DeadLetters
from infra.ops.kafka import KafkaGateway
from schemas.codec import EventEncoder
from sinks.mongo.client import mongo_client
from tests.ops_support import lag_totals, produce, ugc
from tests.worker_support import eventually
from ugc.events import Family, schema_file, topic_name

pytestmark = pytest.mark.slow
VALID_SECONDS, PARKED_SECONDS = 30, 45


class Crashed(Exception):
    pass


def _writer_schema() -> dict[str, Any]:
    """viewing.avsc plus an optional field (FULL-compatible), unique content per test run."""
    schema = json.loads(schema_file(Family.VIEWING).read_text())
    extra = {"name": "player", "type": ["null", "string"], "default": None, "doc": uuid.uuid4().hex}
    return {**schema, "fields": [*schema["fields"], extra]}


def _register(settings, subject: str, schema: dict[str, Any]) -> int:
    response = httpx.post(
        f"{settings.schema_registry_url}/subjects/{subject}/versions",
        json={"schema": json.dumps(schema)},
        timeout=10,
    )
    response.raise_for_status()
    return int(response.json()["id"])


def _delete(settings, subject: str) -> None:
    url = f"{settings.schema_registry_url}/subjects/{subject}"
    httpx.delete(url, timeout=10)  # Apicurio deletes softly first, then for good
    httpx.delete(url, params={"permanent": "true"}, timeout=10)


def _framed(schema_id: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


async def _watched(settings, user: uuid.UUID, film: uuid.UUID) -> int | None:
    client = mongo_client(settings)
    try:
        doc = await client[settings.mongo_db].progress.find_one(
            {"user_id": str(user), "movie_id": str(film)}
        )
        return doc["watched_seconds"] if doc else None
    finally:
        await client.close()


async def _parked_since(settings, since: datetime) -> list:
    async with KafkaGateway(settings) as kafka:
        return [p async for p in DeadLetters(kafka, settings).parked() if p.matches(since=since)]


async def _downstream(pipeline, settings, user, film) -> tuple[int | None, dict, list]:
    counts = await asyncio.to_thread(pipeline.analytics, "viewer-events", user_id=str(user))
    daily = await asyncio.to_thread(pipeline.analytics, "viewer-daily", user_id=str(user))
    return (
        await _watched(settings, user, film),
        {k: v for k, v in counts.items() if v},
        [row["watched_seconds"] for row in daily],
    )


async def test_a_parked_event_replayed_after_its_schema_is_registered_counts_once(
    pipeline, settings
):
    # The backlog of earlier tests first: whatever is parked from here on is this test's.
    await eventually(lambda: lag_totals("--max", "0"), lambda r: r[0] == 0, 120)
    user, film = uuid.uuid4(), uuid.uuid4()
    now = int(time.time() * 1000)
    base = {"user_id": str(user), "movie_id": str(film), "client_ts": now, "server_ts": now}
    valid = await EventEncoder(settings).encode(
        Family.VIEWING,
        {**base, "event_id": str(uuid.uuid4()), "watched_seconds": VALID_SECONDS}
        | {"session_id": None},
    )
    # Apicurio numbers schemas in sequence: a throwaway registration tells the id the next
    # schema registered will get, so the event can carry an id the registry does not have yet.
    probe_subject, writer_subject = (f"test-replay-{uuid.uuid4().hex[:8]}-{n}" for n in "pw")
    probe = {"type": "record", "name": f"P{uuid.uuid4().hex}", "fields": []}
    next_id = _register(settings, probe_subject, probe) + 1
    writer = _writer_schema()
    poison = _framed(
        next_id,
        writer,
        {
            **base,
            "event_id": str(uuid.uuid4()),
            "watched_seconds": PARKED_SECONDS,
            "session_id": None,
            "player": "tv",
        },
    )
    since = datetime.now(UTC) - timedelta(seconds=1)
    key = f"{user}:{film}".encode()
    viewing = topic_name(settings, Family.VIEWING)
    try:
        await produce(settings, [(viewing, key, valid), (viewing, key, poison)])
        parked = await eventually(lambda: _parked_since(settings, since), bool, 60)
        assert [p.value for p in parked] == [poison]
        offset = parked[0].ledger_key
        assert parked[0].source_topic == viewing and "schema" in parked[0].detail

        listed = await ugc("dlq", "list", "--topic", viewing, "--limit", "5")
        assert listed.exit_code == 0 and offset in listed.stdout, listed.output
        shown = await ugc("dlq", "show", offset)
        assert "does not decode" in shown.stdout and poison[:8].hex(" ") in shown.stdout

        # The fix: the writer's schema gets registered (here under a subject of its own).
        assert _register(settings, writer_subject, writer) == next_id, "registry ids moved on"
        shown = await ugc("dlq", "show", offset)
        assert f'"watched_seconds": {PARKED_SECONDS}' in shown.stdout, shown.output

        dry = await ugc("dlq", "replay", "--since", f"{since:%Y-%m-%dT%H:%M:%S}", "--dry-run")
        assert "would replay 1" in dry.stdout, dry.output

        # A replay that dies after Kafka took the records, before the ledger recorded them...
        async with KafkaGateway(settings) as kafka:
            crashing = DeadLetters(kafka, settings)

            async def crash(replayed: object) -> None:
                raise Crashed

            crashing.ledger.record = crash
            with pytest.raises(Crashed):
                await crashing.replay(since=since)
        # ...so the next one sends it again (the sinks' idempotence absorbs it), and records it.
        first = await ugc("dlq", "replay", "--since", f"{since:%Y-%m-%dT%H:%M:%S}")
        assert "already replayed 0" in first.stdout and "replayed 1" in first.stdout, first.output
        second = await ugc("dlq", "replay", "--since", f"{since:%Y-%m-%dT%H:%M:%S}")
        assert "already replayed 1" in second.stdout and ", replayed 0" in second.stdout
        listed = await ugc("dlq", "list", "--topic", viewing)
        assert f"{offset}" in listed.stdout and "[replayed]" in listed.stdout

        expected = (
            VALID_SECONDS + PARKED_SECONDS,
            {"viewing": 2},
            [VALID_SECONDS + PARKED_SECONDS],
        )
        await eventually(lambda: _downstream(pipeline, settings, user, film), expected.__eq__, 60)
        # Nothing is left to process, and it still counts once; nothing was parked again.
        await eventually(lambda: lag_totals("--max", "0"), lambda r: r[0] == 0, 60)
        assert await _downstream(pipeline, settings, user, film) == expected
        assert len(await _parked_since(settings, since)) == 1
    finally:
        _delete(settings, writer_subject)
        _delete(settings, probe_subject)
