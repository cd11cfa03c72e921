"""Gzip-compressed request bodies (`Content-Encoding: gzip`), bounded after decompression.

Mobile players send their batches compressed. nginx passes the header and the compressed body
through (its body limit bounds the compressed size); this layer, inside BodyLimits (which
bounds the compressed bytes on the API port), inflates the body incrementally and stops as soon
as the decompressed size passes the same limit: a zip bomb costs at most the limit in memory and
gets 413 (BodyTooLarge), never a gigabyte of JSON. A body that is not gzip, or is cut short,
gets 400 with a message. Only the paths given are decoded (the batch endpoint); a request
without the header costs one pass over its headers.
"""

import zlib
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest_api.limits import BodyError, BodyTooLarge, parse_nginx_size

GZIP = frozenset({b"gzip", b"x-gzip"})
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer, not zlib's or raw deflate


class BodyNotDecodable(BodyError):
    def __init__(self, reason: str) -> None:
        super().__init__(400, f"Content-Encoding gzip: the body is not valid gzip ({reason})")


class GzipBodies:
    """Pure ASGI middleware: inflate gzip request bodies on `paths`, at most `limit` bytes."""

    def __init__(self, app: ASGIApp, *, paths: Iterable[str], limit: str) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.limit = limit
        self.max_bytes = parse_nginx_size(limit) or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        encoding = None
        for name, value in scope["headers"]:
            if name == b"content-encoding":
                encoding = value.strip().lower()
        if encoding not in GZIP:
            await self.app(scope, receive, send)
            return
        # The app sees the body as if it had been sent uncompressed.
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name not in (b"content-encoding", b"content-length")
        ]
        await self.app({**scope, "headers": headers}, self._inflated(receive), send)

    def _inflated(self, receive: Receive) -> Receive:
        done = False

        async def inflated_receive() -> Message:
            nonlocal done
            if done:  # later calls wait for the disconnect
                return await receive()
            inflater = _Inflater(self.max_bytes, self.limit)
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message  # the client went away
                inflater.feed(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            done = True
            return {"type": "http.request", "body": inflater.finish(), "more_body": False}

        return inflated_receive


class _Inflater:
    """Incremental gzip decompression (several members allowed, as the format does) that never
    holds more than `max_bytes` + 1 decompressed bytes."""

    def __init__(self, max_bytes: int | None, limit: str) -> None:
        self._max_bytes = max_bytes
        self._limit = limit
        self._stream = zlib.decompressobj(_GZIP_WBITS)
        self._chunks: list[bytes] = []
        self._size = 0
        self._started = False

    def feed(self, data: bytes) -> None:
        while data:
            self._started = True
            room = 0 if self._max_bytes is None else self._max_bytes - self._size + 1
            try:
                chunk = self._stream.decompress(data, room)
            except zlib.error as exc:
                raise BodyNotDecodable(str(exc)) from None
            self._size += len(chunk)
            if self._max_bytes is not None and self._size > self._max_bytes:
                raise BodyTooLarge(f"{self._limit} once decompressed")
            self._chunks.append(chunk)
            data = self._stream.unconsumed_tail
            if not data and self._stream.eof and self._stream.unused_data:
                data = self._stream.unused_data  # the next gzip member
                self._stream = zlib.decompressobj(_GZIP_WBITS)

    def finish(self) -> bytes:
        if not self._started:
            raise BodyNotDecodable("empty body")
        if not self._stream.eof:
            raise BodyNotDecodable("truncated")
        return b"".join(self._chunks)
