"""Decoding Kafka messages for the agents; what cannot be processed goes to the dead-letter topic.

A message is poison when it is not Confluent-framed Avro, names a schema the registry does not
have, does not decode, or decodes to an event that breaks the contract (a score of 42). Those
are sent to the dead-letter topic with the reason in headers, and the worker goes on. A registry
that does not answer is not the message's fault: decoding is retried until it does.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx
from faust import Stream
from faust.types import EventT, StreamT
from schema_registry.client.errors import ClientError
from schema_registry.serializers.errors import SerializerError

from schemas.codec import EventDecoder, registry_client
from streams.app import FAMILY_OF_TOPIC, dead_letter_topic, settings
from streams.metrics import DEAD_LETTERS, SINK_RETRIES
from ugc.events import Family

log = logging.getLogger(__name__)
T = TypeVar("T")

DECODERS: dict[Family, EventDecoder] = {family: EventDecoder(settings, family) for family in Family}


class InvalidEvent(ValueError):
    """Decoded fine, but breaks the contract of its family."""


@dataclass(frozen=True, slots=True)
class Decoded:
    event: EventT
    family: Family
    record: dict[str, Any]


async def until_done(operation: Callable[[], Awaitable[T]], sink: str) -> T:
    """Run a sink write until it succeeds, backing off; the batch stays unacknowledged
    meanwhile, so a crash here means redelivery, never loss."""
    delay = 0.1
    while True:
        try:
            return await operation()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            SINK_RETRIES.labels(sink).inc()
            log.warning(
                "%s write failed (%s: %s); retrying in %.1fs", sink, type(exc).__name__, exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.sink_retry_max_s)


async def batches(stream: StreamT, max_events: int, within_s: float) -> AsyncIterator[list[EventT]]:
    """Batches of events that stay unacknowledged until the agent acks them, after its sink
    write succeeded (Faust's plain `take` acks a batch even when processing it failed)."""
    async for events in cast(Stream, stream).noack_take(max_events, within_s):
        yield list(events)


async def decode_all(events: Sequence[EventT], dead_letters: bool = False) -> list[Decoded]:
    """Decode a batch in order, leaving poison messages out. Several agents read each topic;
    only the one that reads them all (the raw-event sink) sends poison to the dead-letter
    topic, so each bad message is parked once."""
    decoded = []
    for event in events:
        family = FAMILY_OF_TOPIC[event.message.topic]
        try:
            record = await _decode(family, event.message.value)
            validate(family, record)
        except (InvalidEvent, SerializerError, ValueError, TypeError, EOFError, KeyError) as exc:
            if dead_letters:
                await dead_letter(event, reason=type(exc).__name__, detail=str(exc))
            continue
        decoded.append(Decoded(event, family, record))
    return decoded


async def _decode(family: Family, value: bytes | None) -> dict[str, Any]:
    if not value:
        raise ValueError("empty message")
    while True:
        try:
            return await DECODERS[family].decode(value)
        except (httpx.HTTPError, ClientError) as exc:
            await _wait_for_registry(exc)
        except SerializerError as exc:
            if "unable to fetch schema" not in str(exc) or await _registry_answers():
                raise
            await _wait_for_registry(exc)


async def _registry_answers() -> bool:
    try:
        async with asyncio.timeout(settings.registry_timeout_s):
            await registry_client(settings).get_compatibility()
        return True
    except Exception:
        return False


async def _wait_for_registry(exc: Exception) -> None:
    SINK_RETRIES.labels("schema_registry").inc()
    log.warning("schema registry unavailable (%s); retrying", exc)
    await asyncio.sleep(1.0)


def validate(family: Family, record: dict[str, Any]) -> None:
    """What Avro cannot say: ranges of the fields."""
    if family is Family.RATINGS and record["score"] is not None and not 0 <= record["score"] <= 10:
        raise InvalidEvent(f"score {record['score']} is outside 0..10")
    if family is Family.PLAYBACK and record["position_ms"] < 0:
        raise InvalidEvent("position_ms is negative")
    if family is Family.VIEWING and record["watched_seconds"] <= 0:
        raise InvalidEvent("watched_seconds is not positive")


async def dead_letter(event: EventT, reason: str, detail: str) -> None:
    """Park a message with why it failed; durable (acknowledged by Kafka) before we move on."""
    message = event.message
    headers = [
        ("ugc-dlq-reason", reason.encode()),
        ("ugc-dlq-detail", detail[:1000].encode()),
        ("ugc-dlq-topic", message.topic.encode()),
        ("ugc-dlq-partition", str(message.partition).encode()),
        ("ugc-dlq-offset", str(message.offset).encode()),
        ("ugc-dlq-at", str(int(time.time() * 1000)).encode()),
    ]

    async def send() -> None:
        delivered = await dead_letter_topic.send(
            key=message.key, value=message.value, headers=headers
        )
        await delivered

    await until_done(send, "dead_letter")
    DEAD_LETTERS.labels(message.topic, reason).inc()
    log.warning(
        "dead-lettered %s[%d]@%d: %s: %s",
        message.topic,
        message.partition,
        message.offset,
        reason,
        detail,
    )
