"""The event families of the service: one Kafka topic and one Avro schema each."""

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ugc.settings import Settings

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


class Family(StrEnum):
    PLAYBACK = "playback"
    VIEWING = "viewing"
    FAVOURITES = "favourites"
    RATINGS = "ratings"


DEAD_LETTER = "dead-letter"
# What `ugc dlq replay` sent back: a compacted marker per replayed dead letter (infra/ops).
DEAD_LETTER_REPLAYED = f"{DEAD_LETTER}-replayed"
# Ratings re-keyed by film, so that one worker owns each film's running sum and count.
RATINGS_BY_FILM = "ratings-by-film"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


def topic_name(settings: Settings, family: str) -> str:
    return f"{settings.kafka_topic_prefix}.{family}"


def value_subject(topic: str) -> str:
    """TopicNameStrategy: the value schema of topic T lives under subject `T-value`."""
    return f"{topic}-value"


def schema_file(family: Family) -> Path:
    return SCHEMAS_DIR / f"{family.value}.avsc"


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the service owns, with partitions, replication, retention and cleanup policy."""
    common = {"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
    events = {
        **common,
        "cleanup.policy": "delete",
        "retention.ms": str(settings.kafka_retention_ms),
    }
    specs = [
        TopicSpec(
            topic_name(settings, family),
            settings.kafka_partitions,
            settings.kafka_replication_factor,
            events,
        )
        for family in Family
    ]
    specs.append(
        TopicSpec(
            topic_name(settings, RATINGS_BY_FILM),
            settings.kafka_partitions,
            settings.kafka_replication_factor,
            events,
        )
    )
    dead_letters = {**common, "retention.ms": str(settings.kafka_dead_letter_retention_ms)}
    specs.append(
        TopicSpec(
            topic_name(settings, DEAD_LETTER),
            1,
            settings.kafka_replication_factor,
            {**dead_letters, "cleanup.policy": "delete"},
        )
    )
    # Its markers outlive the messages they name: the same retention, one marker per key.
    specs.append(
        TopicSpec(
            topic_name(settings, DEAD_LETTER_REPLAYED),
            1,
            settings.kafka_replication_factor,
            {**dead_letters, "cleanup.policy": "compact,delete"},
        )
    )
    return specs
