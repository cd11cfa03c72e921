"""The Kafka gateway of erasures: one marker into every partition of every event topic.

Erasures are rare, so each one gets a producer of its own (aiokafka, idempotent, acks=all),
started and stopped around it, rather than a second long-lived producer per API process. The
whole send is bounded by `UGC_PRODUCE_TIMEOUT_S`: a marker Kafka did not acknowledge in time
is a DependencyUnavailable (503), and the erasure must be asked again.
"""

import asyncio
import logging
from contextlib import suppress
from uuid import UUID

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ugc.erasure import MARKER_HEADER, marked_topics
from ugc.errors import DependencyUnavailable
from ugc.settings import Settings

log = logging.getLogger(__name__)
KAFKA = "kafka"


class ErasureLog:
    def __init__(self, settings: Settings) -> None:
        self._bootstrap = settings.kafka_bootstrap
        self._topics = marked_topics(settings)
        self._partitions = settings.kafka_partitions
        self._timeout_s = settings.produce_timeout_s

    async def publish(self, erasure_id: str, user_id: UUID, marker: bytes) -> int:
        """Write the marker to every partition; returns how many Kafka acknowledged (all)."""
        timeout_ms = int(self._timeout_s * 1000)
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=timeout_ms,
            client_id="ugc-erasure",
        )
        headers = [(MARKER_HEADER, erasure_id.encode())]
        try:
            async with asyncio.timeout(self._timeout_s):
                await producer.start()
                sent = [
                    await producer.send(
                        topic, marker, key=str(user_id).encode(), partition=p, headers=headers
                    )
                    for topic in self._topics
                    for p in range(self._partitions)
                ]
                await asyncio.gather(*sent)
        except (KafkaError, TimeoutError) as exc:
            raise DependencyUnavailable(KAFKA, f"markers not acknowledged: {exc!r}") from exc
        finally:
            with suppress(Exception):  # a broker that is away must not hold the answer up
                async with asyncio.timeout(self._timeout_s):
                    await producer.stop()
        log.info("erasure %s: %d markers written", erasure_id, len(sent))
        return len(sent)
