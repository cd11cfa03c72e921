"""What the two Faust applications of the service share: their configuration and topics.

- `streams.app` (group `ugc-projections`): projections into MongoDB; run as many workers as the
  topics have partitions.
- `streams.raw_app` (group `ugc-raw-events`): raw events into ClickHouse and the analytics
  views. With the embedded chDB only one process may open its folder, so locally it runs as
  one worker; against a ClickHouse server (`UGC_CLICKHOUSE_URL`) it scales like the other.

Separate consumer groups, so a MongoDB backlog never holds ClickHouse back, nor the reverse.
"""

import logging
from typing import Any

import faust
import mode.loop
from faust.sensors import Sensor

from streams import in_flight
from streams.fetching import fetch_in_batches
from streams.offsets import apply_in_order, fetch_stalled_again
from ugc.events import DEAD_LETTER, RATINGS_BY_FILM, Family, topic_name
from ugc.settings import Settings

PROJECTIONS_GROUP = "ugc-projections"
RAW_EVENTS_GROUP = "ugc-raw-events"
STALLED_CHECK_S = 5.0
STILL_S = 10.0  # records waiting this long with nothing handed on: fetch them again
log = logging.getLogger(__name__)


class Revocations(Sensor):
    """Which consumer generation the rebalance under way is taking partitions from.

    A rebalance first revokes (events of that generation may soon be another worker's), then
    assigns a new generation, whose events are this worker's even before Faust calls the
    rebalance finished (it still recovers tables then)."""

    revoking: int | None = None

    def on_rebalance_start(self, app: Any) -> dict[str, Any]:
        self.revoking = app.consumer_generation_id
        return {}


revocations = Revocations()  # one Faust app runs per worker process


def create_app(
    settings: Settings, app_id: str, origin: str, modules: list[str], web_port: int
) -> faust.App:
    # uvloop, which the API runs on too: asyncio's own loop (scheduling, futures) took about a
    # tenth of a projections worker's CPU at 350 events/s. Set before any loop exists: Faust
    # creates its loops when the worker starts, after importing the app.
    mode.loop.use("uvloop")
    apply_in_order()
    fetch_in_batches(settings.consumer_fetch_min_bytes, settings.consumer_fetch_max_wait_ms)
    datadir = settings.faust_data_dir / app_id
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        # Faust scans the origin too: the app's own module, so neither app imports the other's
        # agents.
        autodiscover=modules,
        origin=origin,
        datadir=str(datadir),
        store="memory://",  # tables are rebuilt from their changelog topics at start
        # The web port serves health, metrics and (raw-events app) analytics: loopback by
        # default, and none of Faust's own views that browse tables or route requests.
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=web_port,
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        topic_replication_factor=settings.kafka_replication_factor,
        topic_partitions=settings.kafka_partitions,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # A rebalance or a stop does not wait for the agents to acknowledge what they hold:
        # Faust's stream keeps a reference to the last message it handed out, so a batch let go
        # unacknowledged would make that wait endless (faust-streaming#527). Only acknowledged
        # offsets are committed; the agents let go of their batches at once (streams.messages)
        # and the next owner reads them again; every sink is idempotent.
        stream_wait_empty=False,
        # A crashed worker's partitions move after this long; a stopped one's at once.
        broker_session_timeout=settings.worker_session_timeout_s,
        broker_heartbeat_interval=max(settings.worker_session_timeout_s / 5, 0.5),
        producer_acks=-1,
        producer_linger_ms=settings.producer_linger_ms,
    )
    app.sensors.add(revocations)
    in_flight.settle_before_handing_over(app, settings.worker_settle_writes_s)

    @app.timer(interval=STALLED_CHECK_S)
    async def fetch_stalled_partitions_again() -> None:
        try:
            await fetch_stalled_again(app.consumer, STILL_S)
        except Exception as exc:  # a broker that does not answer now: the next tick asks again
            log.warning("stalled partitions not checked: %s: %s", type(exc).__name__, exc)

    return app


def raw_topic(app: faust.App, *names: str) -> faust.TopicT:
    """Topics of Confluent-framed Avro bytes; decoding happens in the agents."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw"
    )


def dead_letter_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    return raw_topic(app, topic_name(settings, DEAD_LETTER))


def family_of_topic(settings: Settings) -> dict[str, Family]:
    return {topic_name(settings, family): family for family in Family} | {
        topic_name(settings, RATINGS_BY_FILM): Family.RATINGS
    }
