"""The worker's consumer lag on its `/metrics`: `ugc_worker_consumer_lag{group,topic,partition}`.

Each worker reports the partitions it is assigned (of the event topics), so summing the gauge
over a group's workers gives the group's lag, the number `ugc lag` prints. Measured the same
way (`infra.ops.lag.partition_lags`: end offset - committed offset) by a timer with one admin
client and one group-less consumer of its own: three small requests every LAG_INTERVAL_S,
whatever the event rate, and nothing on the worker's own consumer.
"""

import asyncio
import logging
from typing import Any

import faust
from aiokafka import TopicPartition
from prometheus_client import Gauge

from infra.ops.kafka import KafkaGateway
from infra.ops.lag import event_topics, partition_lags
from ugc.settings import Settings

log = logging.getLogger(__name__)
LAG_INTERVAL_S = 5.0
LAG = Gauge(
    "ugc_worker_consumer_lag",
    "Events not yet committed by the worker's consumer group, on the partitions this worker "
    "is assigned (end offset - committed offset)",
    ["group", "topic", "partition"],
)


def install_lag_gauge(app: faust.App, settings: Settings) -> None:
    topics = set(event_topics(settings))
    group = str(app.conf.id)
    kafka: KafkaGateway | None = None

    @app.timer(interval=LAG_INTERVAL_S)
    async def sample_lag() -> None:
        nonlocal kafka
        try:
            assigned = [
                TopicPartition(tp.topic, tp.partition)
                for tp in app.consumer.assignment()
                if tp.topic in topics
            ]
        except Exception:  # no consumer yet (starting)
            return
        try:
            if kafka is None:
                kafka = KafkaGateway(settings)
                await kafka.start()
            async with asyncio.timeout(LAG_INTERVAL_S * 2):
                lags = await partition_lags(kafka, group, assigned)
        except Exception as exc:
            log.warning("consumer lag not measured: %s: %s", type(exc).__name__, exc)
            await _close(kafka)
            kafka = None
            return
        LAG.clear()  # partitions moved to another worker are no longer this one's to report
        for p in lags:
            LAG.labels(group, p.topic, str(p.partition)).set(p.lag)

    @app.on_before_shutdown.connect
    async def close_lag_client(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        nonlocal kafka
        await _close(kafka)
        kafka = None


async def _close(kafka: KafkaGateway | None) -> None:
    if kafka is None:
        return
    try:
        await kafka.close()
    except Exception as exc:
        log.debug("closing the lag client: %s", exc)
