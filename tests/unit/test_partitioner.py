"""Our C-backed partitioner puts every key where Kafka's default partitioner does."""

import os
import uuid

from aiokafka.partitioner import DefaultPartitioner

from ingest_api.gateways.partitioner import fast_default_partitioner


def test_same_partition_as_kafkas_default_for_every_key():
    reference = DefaultPartitioner()
    keys = [os.urandom(n % 97) for n in range(3000)]
    keys += [f"{uuid.uuid4()}:{uuid.uuid4()}".encode() for _ in range(3000)]
    for count in (1, 3, 6, 12):
        partitions = list(range(count))
        for key in keys:
            assert fast_default_partitioner(key, partitions, partitions) == reference(
                key, partitions, partitions
            )


def test_unkeyed_records_go_to_an_available_partition():
    assert fast_default_partitioner(None, [0, 1, 2], [2]) == 2
