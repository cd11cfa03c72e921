"""Request body bounds on the API port itself: 413 over the size limit, 408 when too slow.

nginx bounds what comes through it (it buffers each body under its size limit and read
timeout), but the API port has clients of its own (operators, benchmarks, a misrouted
balancer): without this, one could send an endless body, or declare a long one and stall,
holding a request open for as long as it likes.

Cheap on the hot path: one pass over the headers, and `receive` wrapped only for a request
that has a body; nothing is buffered or copied.

A layer that decodes bodies (gzip) can bound the decoded size the same way: wrapped inside
this one, it raises `BodyTooLarge` from its own `receive`, and the client gets the same 413.
"""

import asyncio
import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NGINX_SIZE = re.compile(r"(\d+)([kKmMgG]?)")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
# The connection is closed after these errors: the rest of the body is not worth reading.
_CLOSE = {"Connection": "close"}


def parse_nginx_size(size: str) -> int:
    """Bytes in an nginx size (`1m`, `512k`, `1024`); 0 means no limit, as in nginx."""
    match = _NGINX_SIZE.fullmatch(size.strip())
    if match is None:
        raise ValueError(f"not an nginx size: {size!r}")
    number, unit = match.groups()
    return int(number) * _UNITS[unit.lower()]


class BodyError(HTTPException):
    """Raised from `receive`: FastAPI turns it into a JSON answer ({"detail": ...})."""


class BodyTooLarge(BodyError):
    def __init__(self, limit: str) -> None:
        super().__init__(413, f"request body is larger than {limit}", headers=_CLOSE)


class BodyTimeout(BodyError):
    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"request body did not arrive within {timeout_s:g}s", headers=_CLOSE)


class BodyLimits:
    """Pure ASGI middleware: 413 for a body over `limit` (declared Content-Length, or bytes
    received for a chunked body), 408 for a body not received within `timeout_s`."""

    def __init__(self, app: ASGIApp, *, limit: str, timeout_s: float) -> None:
        self.app = app
        self.limit = limit
        self.max_bytes = parse_nginx_size(limit) or None
        self.timeout_s = timeout_s
        self._waiting = _Waiting(every_s=min(0.5, timeout_s / 4))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body = False
        for name, value in scope["headers"]:  # names are lowercase bytes (ASGI spec)
            if name == b"content-length":
                # Refused before reading any of it (and before "100 Continue"); the server
                # has already refused a malformed value.
                if self.max_bytes is not None and value.isdigit() and int(value) > self.max_bytes:
                    await _answer(send, BodyTooLarge(self.limit))
                    return
                has_body = value != b"0"
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, self._bounded(receive), send)
        except BodyError as exc:
            # Only when no layer inside answered it (FastAPI does, with the same JSON).
            await _answer(send, exc)

    def _bounded(self, receive: Receive) -> Receive:
        """`receive` that raises once the body is over the limit or past the deadline."""
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        received = 0
        complete = False

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:  # later calls wait for the disconnect: not bounded
                return await receive()
            message = await self._waiting.receive(receive, deadline, self.timeout_s)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if self.max_bytes is not None and received > self.max_bytes:
                    raise BodyTooLarge(self.limit)
                complete = not message.get("more_body", False)
            return message

        return bounded_receive


class _Waiting:
    """The requests waiting for body bytes, with their deadlines, and one periodic sweep that
    times out those past theirs: a timer per request would cost more than the rest of this
    middleware, on every request, for the rare one that stalls. The sweep only runs while a
    request waits, and a small body has usually arrived with the headers (no wait at all)."""

    def __init__(self, every_s: float) -> None:
        self._every_s = every_s
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._timed_out: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def receive(self, receive: Receive, deadline: float, timeout_s: float) -> Message:
        task = asyncio.current_task()
        assert task is not None
        self._deadlines[task] = deadline
        if self._timer is None or self._loop is not task.get_loop():
            self._arm(task.get_loop())
        try:
            return await receive()
        except asyncio.CancelledError:
            # The sweep cancelled it while it waited here; any other cancellation stands.
            if task in self._timed_out:
                self._timed_out.discard(task)
                if task.uncancel() == 0:
                    raise BodyTimeout(timeout_s) from None
            raise
        finally:
            self._deadlines.pop(task, None)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer = loop.call_later(self._every_s, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        for task, deadline in list(self._deadlines.items()):
            # A task listed here is suspended in `await receive()` above, so that is where
            # the cancellation lands (even if its bytes arrived in this very loop turn).
            if deadline <= now and task.get_loop() is loop:
                del self._deadlines[task]
                self._timed_out.add(task)
                task.cancel()
        if self._deadlines:
            self._arm(loop)


async def _answer(send: Send, error: BodyError) -> None:
    """The error in the API's JSON shape, sent by this middleware itself."""
    body = json.dumps({"detail": error.detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
