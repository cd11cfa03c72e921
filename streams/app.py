"""The Faust application. Operators start it with `faust -A streams.app worker -l info`."""

import faust

from ugc.events import DEAD_LETTER, RATINGS_BY_FILM, Family, topic_name
from ugc.settings import get_settings

settings = get_settings()

app = faust.App(
    "ugc-streams",
    broker=f"kafka://{settings.kafka_bootstrap}",
    autodiscover=["streams.agents", "streams.web"],
    origin="streams",
    store="memory://",  # tables are rebuilt from their changelog topics at start
    web_host=settings.api_host,
    web_port=settings.worker_web_port,
    topic_replication_factor=settings.kafka_replication_factor,
    topic_partitions=settings.kafka_partitions,
    topic_allow_declare=True,
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=1.0,
    producer_acks=-1,
    producer_linger_ms=settings.producer_linger_ms,
)


def raw_topic(*names: str) -> faust.TopicT:
    """Topics of Confluent-framed Avro bytes; decoding happens in the agents."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw"
    )


favourites_topic = raw_topic(topic_name(settings, Family.FAVOURITES))
ratings_topic = raw_topic(topic_name(settings, Family.RATINGS))
ratings_by_film_topic = raw_topic(topic_name(settings, RATINGS_BY_FILM))
dead_letter_topic = raw_topic(topic_name(settings, DEAD_LETTER))
progress_topics = raw_topic(*(topic_name(settings, f) for f in (Family.PLAYBACK, Family.VIEWING)))
all_event_topics = raw_topic(*(topic_name(settings, family) for family in Family))

FAMILY_OF_TOPIC: dict[str, Family] = {topic_name(settings, family): family for family in Family} | {
    topic_name(settings, RATINGS_BY_FILM): Family.RATINGS
}
