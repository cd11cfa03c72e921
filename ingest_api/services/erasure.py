"""Erasing a viewer (GDPR): the request (markers through Kafka, ugc/erasure.py) and its progress.

The request is recorded in MongoDB before its markers are written, so its progress can be
asked at once and only by its viewer; the workers add the parts they erased. Nothing else of
the service is written by the API: the erasure itself runs in the workers, in order with the
viewer's events.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from uuid import UUID, uuid4

from ingest_api.erasure_models import ErasureOut, ErasureState
from ingest_api.gateways.erasure_log import ErasureLog
from schemas.erasure import ErasureCodec
from sinks.mongo.client import mongo_client
from sinks.mongo.erasure import ErasureRequests
from ugc.erasure import expected_parts
from ugc.errors import DependencyUnavailable
from ugc.settings import Settings


class ErasureService:
    def __init__(self, settings: Settings, markers: ErasureLog, requests: ErasureRequests) -> None:
        self._settings = settings
        self._markers = markers
        self._requests = requests
        self._codec = ErasureCodec(settings)

    async def erase(self, user_id: UUID) -> str:
        """The erasure's id once its markers are in Kafka; DependencyUnavailable (or
        SchemaNotRegistered) when the registry, MongoDB or Kafka is not there for it."""
        erasure_id = str(uuid4())
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the marker holds it
        record = {"event_id": erasure_id, "user_id": str(user_id), "requested_at": now}
        marker = await self._codec.encode(record)
        expected = expected_parts(self._settings)
        await self._requests.record(erasure_id, user_id, now, expected)
        try:
            await self._markers.publish(erasure_id, user_id, marker)
        except DependencyUnavailable as exc:
            with suppress(DependencyUnavailable):  # best effort: it stays pending otherwise
                await self._requests.fail(erasure_id, str(exc))
            raise
        return erasure_id

    async def status(self, erasure_id: UUID, user_id: UUID | None = None) -> ErasureOut | None:
        """The erasure's progress; None when there is none with this id (for this viewer)."""
        request = await self._requests.find(str(erasure_id))
        if request is None or (user_id is not None and request.user_id != str(user_id)):
            return None
        pending = sorted(set(request.expected) - request.done)
        state: ErasureState = "failed" if request.failed else "pending" if pending else "complete"
        return ErasureOut(
            erasure_id=erasure_id,
            status=state,
            requested_at=request.requested_at,
            parts_done=len(request.expected) - len(pending),
            parts_total=len(request.expected),
            pending=pending,
            failed=request.failed,
        )


@asynccontextmanager
async def erasure_service(settings: Settings) -> AsyncIterator[ErasureService]:
    """The service with a MongoDB client of its own, closed on exit (the API, `ugc erase`)."""
    client = mongo_client(settings, timeout_ms=max(1, round(settings.mongo_timeout_s * 1000)))
    try:
        requests = ErasureRequests(client[settings.mongo_db], settings.mongo_timeout_s)
        yield ErasureService(settings, ErasureLog(settings), requests)
    finally:
        await client.close()
