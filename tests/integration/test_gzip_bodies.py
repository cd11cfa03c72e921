"""Gzip-compressed batches (`Content-Encoding: gzip`), as mobile players send them: accepted
through nginx and on the API port, a zip bomb refused (413), a corrupt body a 400."""

import gzip
import json
import uuid
import zlib

import httpx
import pytest

from tests.api_support import auth_headers, end_offsets, read_events
from ugc.events import Family

BATCH = "/api/v1/events/batch"


def _batch(count: int) -> list[dict[str, object]]:
    return [
        {"type": "viewing", "event_id": str(uuid.uuid4()), "movie_id": str(uuid.uuid4()),
         "watched_seconds": 30}
        for _ in range(count)
    ]  # fmt: skip


def _headers(settings, **extra: str) -> dict[str, str]:
    return {**auth_headers(settings), "Content-Type": "application/json", **extra}


def _bomb() -> bytes:
    """64 MiB of JSON whitespace, gzip-compressed to about 64 KiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    blank = b" " * (1024 * 1024)
    parts = [packer.compress(b'{"events": [')]
    parts += [packer.compress(blank) for _ in range(64)]
    return b"".join(parts) + packer.compress(b"]}") + packer.flush()


@pytest.fixture(params=["direct", "through_nginx"])
def base(request, api_server) -> str:
    return str(getattr(api_server, request.param))


async def test_a_gzip_batch_is_accepted_and_in_kafka(stack, settings, base):
    events = _batch(50)
    since = await end_offsets(settings, Family.VIEWING)
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.post(
            f"{base}{BATCH}",
            content=gzip.compress(json.dumps({"events": events}).encode()),
            headers=_headers(settings, **{"Content-Encoding": "gzip"}),
        )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 50
    ids = {str(e["event_id"]) for e in events}
    stored = await read_events(settings, Family.VIEWING, since, ids)
    assert set(stored) == ids


def test_a_zip_bomb_is_413(settings, base):
    packed = _bomb()
    assert len(packed) < 1024 * 1024  # under the limit as sent
    response = httpx.post(
        f"{base}{BATCH}",
        content=packed,
        headers=_headers(settings, **{"Content-Encoding": "gzip"}),
        timeout=10.0,
    )
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == "request body is larger than 1m once decompressed"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"events": [{"type": "viewing"}]}', "incorrect header check"),
        (gzip.compress(b'{"events": [{"type": "viewing"}]}')[:-10], "truncated"),
    ],
)
def test_a_body_that_is_not_gzip_is_400_with_a_message(settings, base, content, reason):
    response = httpx.post(
        f"{base}{BATCH}",
        content=content,
        headers=_headers(settings, **{"Content-Encoding": "gzip"}),
        timeout=10.0,
    )
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith("Content-Encoding gzip: the body is not valid gzip"), detail
    assert reason in detail


def test_the_openapi_documents_gzip_batches(settings, api_server):
    spec = httpx.get(f"{api_server.direct}/api/v1/openapi.json", timeout=10.0).json()
    operation = spec["paths"][BATCH]["post"]
    assert "Content-Encoding: gzip" in operation["description"]
    assert "decompressed" in operation["responses"]["413"]["description"]
    assert "gzip" in operation["responses"]["400"]["description"]
