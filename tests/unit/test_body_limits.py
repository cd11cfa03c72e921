"""The API port's body guard on its own (no server): what it bounds, and what it leaves alone.
The real-socket behaviour is in tests/integration/test_edge.py."""

import asyncio
import json
from typing import Any

import pytest

from ingest_api.limits import BodyLimits, BodyTooLarge

Message = dict[str, Any]


async def _reads_body(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: reads the whole body, answers 200 with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "headers": list(headers)}


async def _call(
    app: Any, scope: dict[str, Any], messages: list[Message], stall: bool = False
) -> list[Message]:
    """Run `app` with `messages` as the body, then (with `stall`) nothing ever again."""
    queue = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if stall:
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=5.0)
    return sent


def _status_and_json(sent: list[Message]) -> tuple[int, dict[str, Any]]:
    return sent[0]["status"], json.loads(sent[1]["body"])


async def test_a_declared_length_over_the_limit_is_refused_without_reading():
    app = BodyLimits(_reads_body, limit="1k", timeout_s=1.0)
    sent = await _call(app, _scope((b"content-length", b"1025")), [], stall=True)
    assert _status_and_json(sent) == (413, {"detail": "request body is larger than 1k"})
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_bytes_received_over_the_limit_are_refused():
    app = BodyLimits(_reads_body, limit="1k", timeout_s=1.0)
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 2
    sent = await _call(app, _scope((b"transfer-encoding", b"chunked")), chunks, stall=True)
    assert _status_and_json(sent)[0] == 413


async def test_a_stalled_body_is_408_after_the_timeout():
    app = BodyLimits(_reads_body, limit="1m", timeout_s=0.3)
    started = asyncio.get_running_loop().time()
    partial = [{"type": "http.request", "body": b"{", "more_body": True}]
    sent = await _call(app, _scope((b"content-length", b"100")), partial, stall=True)
    status, body = _status_and_json(sent)
    assert status == 408 and "did not arrive within 0.3s" in body["detail"]
    # The sweep runs every timeout/4 at most: the answer comes within one more sweep.
    assert 0.3 <= asyncio.get_running_loop().time() - started < 0.3 + 0.3 / 4 + 0.2


async def test_a_body_arriving_in_time_passes_and_later_waits_are_not_bounded():
    seen: list[Message] = []

    async def waits_for_disconnect(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        await asyncio.sleep(0.3)  # past the guard's timeout: the body is complete, no limit
        seen.append(await receive())

    app = BodyLimits(waits_for_disconnect, limit="1m", timeout_s=0.1)
    body = [{"type": "http.request", "body": b"{}", "more_body": False}]
    await _call(app, _scope((b"content-length", b"2")), body)
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]


async def test_requests_without_a_body_are_passed_through_untouched():
    received: list[Any] = []

    async def app_(scope: Any, receive: Any, send: Any) -> None:
        received.append(receive)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    await BodyLimits(app_, limit="1m", timeout_s=1.0)(_scope(), receive, None)
    assert received == [receive]


async def test_another_cancellation_is_not_turned_into_a_408():
    app = BodyLimits(_reads_body, limit="1m", timeout_s=10.0)
    partial = [{"type": "http.request", "body": b"{", "more_body": True}]
    task = asyncio.create_task(_call(app, _scope((b"content-length", b"100")), partial, True))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_decoding_layer_can_raise_the_same_413():
    error = BodyTooLarge("1m")
    assert (error.status_code, error.detail) == (413, "request body is larger than 1m")
