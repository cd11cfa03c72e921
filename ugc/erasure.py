"""Erasing a viewer (GDPR): the names the API, the workers and `ugc erase` share.

An erasure is a marker written into every partition of every event topic. Kafka orders a
partition only, so each consumer erases, on reading the marker in partition p, what it derived
from p's events before the marker, and keeps what follows; then it reports that part done. The
erasure is complete once every part below reported.
"""

from ugc.events import RATINGS_BY_FILM, Family, topic_name
from ugc.settings import Settings

# On a marker: the erasure id. Events carry no such header, so a consumer tells the two apart
# before decoding (their Avro schemas differ).
MARKER_HEADER = "ugc-erasure"
# On a marker the worker forwarded to ratings-by-film: the ratings partition it was read from.
SOURCE_HEADER = "ugc-erasure-source"
# The markers share the event topics, so their schema is registered under its record name
# (Confluent's RecordNameStrategy), not under a topic's subject.
SUBJECT = "cinema.ugc.events.Erasure"

MONGODB = "mongodb"
CLICKHOUSE = "clickhouse"
# What the projections worker erases in MongoDB: ratings are erased from ratings-by-film.
MONGODB_FAMILIES = (Family.PLAYBACK, Family.VIEWING, Family.FAVOURITES)


def marked_topics(settings: Settings) -> list[str]:
    """The topics that carry a viewer's events, so each of their partitions gets a marker."""
    return [topic_name(settings, family) for family in Family]


def part(store: str, topic: str, partition: int, source: str = "") -> str:
    """One store's erasure of one partition, e.g. `clickhouse:ugc.viewing[3]`; a
    ratings-by-film partition reports once per ratings partition (`source`) whose marker the
    worker forwarded to it."""
    name = f"{store}:{topic}[{partition}]"
    return f"{name}<{source}" if source else name


def ratings_source(settings: Settings, partition: int) -> str:
    return f"{topic_name(settings, Family.RATINGS)}[{partition}]"


def expected_parts(settings: Settings) -> list[str]:
    """Every part an erasure waits for."""
    partitions = range(settings.kafka_partitions)
    parts = [part(CLICKHOUSE, topic, p) for topic in marked_topics(settings) for p in partitions]
    parts += [
        part(MONGODB, topic_name(settings, family), p)
        for family in MONGODB_FAMILIES
        for p in partitions
    ]
    by_film = topic_name(settings, RATINGS_BY_FILM)
    sources = [ratings_source(settings, p) for p in partitions]
    parts += [part(MONGODB, by_film, q, source) for q in partitions for source in sources]
    return parts
