"""The Faust application; operators start it with `faust -A streams.app worker -l info`."""

import faust

from ugc.settings import get_settings

settings = get_settings()

app = faust.App(
    "ugc-streams",
    broker=f"kafka://{settings.kafka_bootstrap}",
    web_host=settings.api_host,
    web_port=settings.worker_web_port,
    topic_replication_factor=settings.kafka_replication_factor,
    topic_partitions=settings.kafka_partitions,
)
