"""Which partition a keyed record lands on: Kafka's default partitioner (murmur2), as Java's
client, aiokafka and librdkafka's `murmur2_random` compute it, with murmur2 in C.

The producer chooses the partition; the workers need the same answer to tell which of a
viewer's documents and rows came from a given partition (erasure markers, streams/erasure.py).
"""

from uuid import UUID

from murmurhash2 import murmurhash2

KAFKA_MURMUR2_SEED = 0x9747B28C


def kafka_partition(key: bytes, partitions: int) -> int:
    return (murmurhash2(key, KAFKA_MURMUR2_SEED) & 0x7FFFFFFF) % partitions


def viewer_film_partition(user_id: UUID | str, movie_id: UUID | str, partitions: int) -> int:
    """The partition of the events keyed `user:movie` (ingest_api/services/events.py)."""
    return kafka_partition(f"{user_id}:{movie_id}".encode(), partitions)
