"""Delivery in the agents: decoding, dead letters, retried sink writes and acknowledgements.

A message is poison when anything about it cannot be processed: not Confluent-framed Avro, a
schema the registry does not have, bytes that do not decode (a timestamp past what Python's
datetime holds raises OverflowError), or a decoded event that breaks the contract (a score of
42, a time no store holds). Poison is that message's fault alone: it is parked in the
dead-letter topic with the reason in headers (by the raw-events app, which reads every topic,
so each message is parked once) and the valid messages around it go on. A registry that does
not answer is nobody's fault: decoding waits for it.

Acknowledgement: an event is acknowledged only once its sink write succeeded, so Faust never
commits past an event that was not applied. A failing write is retried with backoff while the
worker owns the partition; once a rebalance or a shutdown begins, the batch is let go
unacknowledged instead (`Abandoned`): Faust's revocation then completes in bounded time, the
offsets stay below the batch, and whoever owns the partition next reads it again. Every sink is
idempotent, so a batch applied twice, or by two workers at once, counts once.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

import faust
import httpx
from faust import Stream
from faust.types import EventT, StreamT
from schema_registry.client.errors import ClientError
from schema_registry.serializers.errors import SerializerError

from schemas.codec import EventDecoder, registry_client
from streams import in_flight
from streams.base import family_of_topic, revocations
from streams.health import ProgressWatch
from streams.metrics import ABANDONED, DEAD_LETTERS, EVENTS, SINK_RETRIES
from ugc.events import Family
from ugc.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

settings = get_settings()
DECODERS: dict[Family, EventDecoder] = {family: EventDecoder(settings, family) for family in Family}
FAMILY_OF_TOPIC = family_of_topic(settings)

# What every store holds: ClickHouse's DateTime64 spans 1900..2299; MongoDB and Avro hold more.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, tzinfo=UTC)
MAX_WATCHED_SECONDS = 86_400
LETTING_GO_POLL_S = 0.2  # how often a retry's backoff checks for a rebalance or shutdown


class InvalidEvent(ValueError):
    """Decoded fine, but breaks the contract of its family."""


class Abandoned(Exception):
    """A batch let go unacknowledged because the worker is giving up its partitions."""


@dataclass(frozen=True, slots=True)
class Decoded:
    event: EventT
    family: Family
    record: dict[str, Any]


# The consumer generation of the batch (or event) the current task is working on.
batch_generation: ContextVar[int | None] = ContextVar("batch_generation", default=None)


def letting_go(app: faust.App) -> bool:
    """A shutdown, a rebalance taking partitions from the generation of the batch at hand, or
    one that took them already: this worker may no longer own what it holds. (A batch of the
    generation just assigned goes on while Faust finishes the rebalance.)"""
    if app.should_stop:
        return True
    generation = batch_generation.get()
    if generation is not None and generation != app.consumer_generation_id:
        return True  # its partitions were sought back since: their owner reads it again
    if not app.rebalancing:
        return False
    return generation is None or generation == revocations.revoking


async def until_done(operation: Callable[[], Awaitable[T]], sink: str, app: faust.App) -> T:
    """Run a sink write until it succeeds, backing off; raises `Abandoned` instead of retrying
    once the worker is letting its partitions go (the batch stays unacknowledged, so it is
    redelivered, never lost; a half-applied batch is harmless, the sinks being idempotent).

    A write once sent is never cancelled, even when the agent is: the store would apply it
    anyway, maybe after the partition's next owner wrote, and FerretDB applies an update by
    reading and rewriting the whole document. Revocations and shutdowns wait for the writes in
    flight instead (streams.in_flight), so the next owner starts after them; and a write is
    not started once the worker is letting go: the wait may be over already, and it would land
    after the next owner's (the stores keep the newest offset they applied, and refuse older
    ones)."""
    delay = 0.1
    while True:
        if letting_go(app):
            raise Abandoned(f"{sink} write not started: a rebalance or shutdown is under way")
        attempt = in_flight.track(asyncio.ensure_future(operation()))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            SINK_RETRIES.labels(sink).inc()
            log.warning(
                "%s write failed (%s: %s); retrying in %.1fs", sink, type(exc).__name__, exc, delay
            )
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if letting_go(app):
                raise Abandoned(f"{sink} write failed during a rebalance or shutdown")
            await asyncio.sleep(min(LETTING_GO_POLL_S, delay))
        delay = min(delay * 2, settings.sink_retry_max_s)


BatchHandler = Callable[[list[EventT]], Awaitable[None]]


async def consume_batches(
    app: faust.App,
    stream: StreamT,
    agent: str,
    max_events: int,
    within_s: float,
    handle: BatchHandler,
    watch: ProgressWatch,
) -> None:
    """Feed `handle` batches; acknowledge a batch only after `handle` returned."""
    async for events in cast(Stream, stream).noack_take(max_events, within_s):
        await _one_batch(app, stream, agent, events, handle, watch)
        # Faust counts a message handed out as in flight until it is acknowledged or gone; a
        # loop variable would keep an abandoned batch alive until the next batch, which a
        # paused consumer never sends.
        del events


async def _one_batch(
    app: faust.App,
    stream: StreamT,
    agent: str,
    events: Sequence[EventT],
    handle: BatchHandler,
    watch: ProgressWatch,
) -> None:
    batch = [e for e in events if e.message.generation_id == app.consumer_generation_id]
    if len(batch) < len(events):
        # Fetched before the last rebalance: the partition was seeked back to its committed
        # offset since, so these come again (and may belong to another worker now).
        ABANDONED.labels(agent).inc(len(events) - len(batch))
    if not batch:
        return
    batch_generation.set(batch[0].message.generation_id)
    try:
        if letting_go(app):
            raise Abandoned("a rebalance or shutdown is under way")
        await handle(batch)
    except Abandoned as exc:
        ABANDONED.labels(agent).inc(len(batch))
        log.info("%s: %d events left unacknowledged: %s", agent, len(batch), exc)
        return
    await acknowledge(stream, batch, agent, watch)


async def acknowledge(
    stream: StreamT, events: Sequence[EventT], agent: str, watch: ProgressWatch
) -> None:
    if letting_go(cast(faust.App, stream.app)):
        # Applied, but the partitions are being (or were) sought back to their committed offsets
        # and the events come again, maybe to another worker: their offsets are not ours to commit.
        return
    for event in events:
        await stream.ack(event)
    EVENTS.labels(agent).inc(len(events))
    watch.progressed()


async def decode_all(
    events: Sequence[EventT], app: faust.App, dead_letters: faust.TopicT | None = None
) -> list[Decoded]:
    """Decode a batch in order, leaving poison out (parked in `dead_letters` when given)."""
    decoded = []
    for event in events:
        family = FAMILY_OF_TOPIC[event.message.topic]
        try:
            record = await _decode(family, event.message.value)
            validate(family, record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if dead_letters is not None:
                await dead_letter(dead_letters, event, type(exc).__name__, str(exc), app)
            continue
        decoded.append(Decoded(event, family, record))
    return decoded


async def _decode(family: Family, value: bytes | None) -> dict[str, Any]:
    if not value:
        raise ValueError("empty message")
    return await decode_waiting_for_registry(DECODERS[family], value)


class Decoder(Protocol):
    async def decode(self, value: bytes, /) -> dict[str, Any]: ...


async def decode_waiting_for_registry(decoder: Decoder, value: bytes) -> dict[str, Any]:
    """Decode one Confluent-framed Avro value; a registry that does not answer is nobody's
    fault, so wait for it rather than calling the message poison."""
    while True:
        try:
            return await decoder.decode(value)
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
    """What Avro cannot say: ranges of the fields, and what every store can hold."""
    for field in ("client_ts", "server_ts"):
        stamp = record.get(field)
        if not isinstance(stamp, datetime) or not EARLIEST <= stamp <= LATEST:
            raise InvalidEvent(f"{field} {stamp!r} is outside {EARLIEST:%Y}..{LATEST:%Y}")
    if family is Family.RATINGS and record["score"] is not None and not 0 <= record["score"] <= 10:
        raise InvalidEvent(f"score {record['score']} is outside 0..10")
    if family is Family.PLAYBACK:
        for field in ("position_ms", "from_position_ms", "duration_ms"):
            if record.get(field) is not None and record[field] < 0:
                raise InvalidEvent(f"{field} is negative")
    if family is Family.VIEWING and not 0 < record["watched_seconds"] <= MAX_WATCHED_SECONDS:
        raise InvalidEvent(f"watched_seconds is outside 1..{MAX_WATCHED_SECONDS}")


async def dead_letter(
    topic: faust.TopicT, event: EventT, reason: str, detail: str, app: faust.App
) -> None:
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
        delivered = await topic.send(key=message.key, value=message.value, headers=headers)
        await delivered

    await until_done(send, "dead_letter", app)
    DEAD_LETTERS.labels(message.topic, reason).inc()
    log.warning(
        "dead-lettered %s[%d]@%d: %s: %s",
        message.topic,
        message.partition,
        message.offset,
        reason,
        detail,
    )
