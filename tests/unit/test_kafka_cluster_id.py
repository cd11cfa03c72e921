"""Kafka cluster ids the stack generates are valid for kafka.tools.StorageTool."""

import base64

from infra.stack.kafka import new_cluster_id


def test_cluster_ids_are_22_char_uuids_never_starting_with_a_dash():
    ids = [new_cluster_id() for _ in range(5000)]
    assert not any(cluster_id.startswith("-") for cluster_id in ids)
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
    assert len(set(ids)) == len(ids)
