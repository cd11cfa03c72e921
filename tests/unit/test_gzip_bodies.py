"""Gzip request bodies on their own (no server): inflated within the limit, a bomb refused
after at most the limit's worth of output, corrupt or truncated bodies a 400.
The API with them, directly and through nginx, is in tests/integration/test_gzip_bodies.py."""

import gzip
import json
import tracemalloc
import zlib
from typing import Any

import pytest

from ingest_api.encoding import BodyNotDecodable, GzipBodies
from ingest_api.limits import BodyLimits, BodyTooLarge
from tests.unit.test_body_limits import _call, _status_and_json

PATH = "/api/v1/events/batch"


def _scope(path: str = PATH, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": list(headers)}


def _gzip_scope(size: int, path: str = PATH) -> dict[str, Any]:
    return _scope(path, (b"content-encoding", b"gzip"), (b"content-length", str(size).encode()))


def _chunks(data: bytes, size: int = 4096) -> list[dict[str, Any]]:
    parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


class _Seen:
    """A bare ASGI app that keeps the body and headers it was given, and answers 200."""

    def __init__(self) -> None:
        self.body = b""
        self.headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.headers = scope["headers"]
        more = True
        while more:
            message = await receive()
            self.body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def test_a_gzip_body_reaches_the_app_inflated_without_the_encoding_headers():
    seen = _Seen()
    body = json.dumps({"events": [{"type": "viewing"}] * 100}).encode()
    packed = gzip.compress(body)
    sent = await _call(GzipBodies(seen, paths=[PATH], limit="1m"), _gzip_scope(len(packed)),
                       _chunks(packed, 100))  # fmt: skip
    assert sent[0]["status"] == 200
    assert seen.body == body
    assert {name for name, _ in seen.headers}.isdisjoint({b"content-encoding", b"content-length"})


async def test_several_gzip_members_are_one_body():
    seen = _Seen()
    packed = gzip.compress(b'{"events": ') + gzip.compress(b"[]}")
    await _call(GzipBodies(seen, paths=[PATH], limit="1m"), _gzip_scope(len(packed)),
                _chunks(packed))  # fmt: skip
    assert seen.body == b'{"events": []}'


@pytest.mark.parametrize(
    ("scope", "body"),
    [
        (_scope(PATH), b'{"events": []}'),  # no Content-Encoding
        (_scope(PATH, (b"content-encoding", b"identity")), b'{"events": []}'),
        (_gzip_scope(10, path="/api/v1/events/viewing"), b"not inflated"),  # another path
    ],
)
async def test_other_bodies_are_left_alone(scope, body):
    seen = _Seen()
    await _call(GzipBodies(seen, paths=[PATH], limit="1m"), scope, _chunks(body))
    assert seen.body == body


async def test_a_zip_bomb_is_413_having_inflated_at_most_the_limit():
    # 1 GiB of zeros compresses to about 1 MiB; inflated whole it would need a GiB.
    bomb = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    packed = b"".join(bomb.compress(zeros) for _ in range(1024)) + bomb.flush()
    app = BodyLimits(GzipBodies(_Seen(), paths=[PATH], limit="1m"), limit="2m", timeout_s=5.0)
    tracemalloc.start()
    try:
        sent = await _call(app, _gzip_scope(len(packed)), _chunks(packed, 64 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    status, body = _status_and_json(sent)
    assert status == 413
    assert body == {"detail": "request body is larger than 1m once decompressed"}
    assert peak < 8 * 1024 * 1024  # the limit and the chunks in flight, not the bomb


async def test_the_compressed_size_is_bounded_before_inflating():
    app = BodyLimits(GzipBodies(_Seen(), paths=[PATH], limit="1k"), limit="1k", timeout_s=5.0)
    sent = await _call(app, _gzip_scope(5000), [])
    assert _status_and_json(sent) == (413, {"detail": "request body is larger than 1k"})


@pytest.mark.parametrize(
    ("packed", "reason"),
    [
        (b'{"events": []}', "incorrect header check"),  # plain JSON sent as gzip
        (gzip.compress(b'{"events": []}')[:-12], "truncated"),
        (b"", "empty body"),
    ],
)
async def test_a_body_that_is_not_gzip_is_400_saying_why(packed, reason):
    app = BodyLimits(GzipBodies(_Seen(), paths=[PATH], limit="1m"), limit="1m", timeout_s=5.0)
    chunked = _scope(PATH, (b"content-encoding", b"gzip"), (b"transfer-encoding", b"chunked"))
    sent = await _call(app, chunked, _chunks(packed))
    status, body = _status_and_json(sent)
    assert status == 400
    assert body["detail"].startswith("Content-Encoding gzip: the body is not valid gzip")
    assert reason in body["detail"]


def test_the_errors_are_the_body_errors_of_the_api():
    assert issubclass(BodyNotDecodable, Exception)
    assert BodyTooLarge("1m").status_code == 413
