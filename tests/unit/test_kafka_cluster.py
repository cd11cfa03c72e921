"""A local Kafka cluster of several nodes: addresses, replication defaults, node names."""

import pytest

from infra.stack.base import StackLayout
from infra.stack.kafka import kafka_nodes
from ugc.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_one_node_keeps_the_plain_name_and_single_replicas(tmp_path):
    settings = _settings(kafka_bootstrap="127.0.0.1:9092")
    (node,) = kafka_nodes(settings, StackLayout(tmp_path, tmp_path / "dist"))
    assert node.name == "kafka"
    assert node.listen_ports() == [("127.0.0.1", 9092), ("127.0.0.1", 9093)]
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (1, 1)


def test_three_nodes_get_their_own_ports_and_clients_bootstrap_from_all(tmp_path):
    settings = _settings(
        stack_kafka_brokers=3,
        kafka_bootstrap="127.0.0.1:26092",
        stack_kafka_controller_port=26093,
    )
    assert settings.kafka_bootstrap == "127.0.0.1:26092,127.0.0.1:26102,127.0.0.1:26112"
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 2)
    nodes = kafka_nodes(settings, StackLayout(tmp_path, tmp_path / "dist"))
    assert [n.name for n in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert [n.listen_ports()[1][1] for n in nodes] == [26093, 26103, 26113]
    assert len({n.data_dir for n in nodes}) == 3


def test_explicit_replication_and_addresses_win():
    settings = _settings(
        stack_kafka_brokers=3,
        kafka_bootstrap="127.0.0.1:1,127.0.0.1:2,127.0.0.1:3",
        kafka_min_insync_replicas=1,
    )
    assert [port for _, port, _ in settings.kafka_node_addresses] == [1, 2, 3]
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 1)


def test_fewer_addresses_than_nodes_is_refused():
    with pytest.raises(ValueError, match="fewer addresses"):
        _settings(stack_kafka_brokers=3, kafka_bootstrap="127.0.0.1:1,127.0.0.1:2")
