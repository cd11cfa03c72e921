"""The 3-node cluster itself: every topic on three replicas with min.insync.replicas 2, and
`ugc stack status` showing each broker, the controller quorum and under-replicated partitions."""

import os
import re
import subprocess
import sys
from pathlib import Path

from confluent_kafka.admin import AdminClient, ConfigResource

from infra.stack.kafka import cluster_metadata
from ugc.events import topic_specs
from ugc.settings import PROJECT_ROOT


def test_topics_are_replicated_three_times_two_in_sync(cluster, settings):
    metadata = cluster_metadata(settings.kafka_bootstrap)
    assert sorted(metadata.brokers) == [1, 2, 3]
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    names = [spec.name for spec in topic_specs(settings)]
    # The offsets topic exists once a group has committed (not yet on a fresh cluster).
    offsets = ["__consumer_offsets"] if "__consumer_offsets" in metadata.topics else []
    replicated = [*names, *offsets]
    for name in replicated:
        partitions = metadata.topics[name].partitions.values()
        assert {len(p.replicas) for p in partitions} == {3}, name
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    for future in admin.describe_configs(resources).values():
        assert future.result(timeout=10)["min.insync.replicas"].value == "2"
    # What the offsets and transactions topics will get when a broker creates them.
    broker = ConfigResource(ConfigResource.Type.BROKER, "1")
    config = admin.describe_configs([broker])[broker].result(timeout=10)
    assert config["offsets.topic.replication.factor"].value == "3"
    assert config["transaction.state.log.replication.factor"].value == "3"


def test_status_shows_each_broker_the_quorum_and_under_replicated_partitions(cluster):
    ugc = str(Path(sys.prefix) / "bin" / "ugc")
    status = subprocess.run(
        [ugc, "stack", "status"],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    for node in ("kafka-1", "kafka-2", "kafka-3"):
        assert re.search(rf"^{node}\s+4\.4\.0\s+healthy", status.stdout, re.MULTILINE), node
    cluster_line = re.search(
        r"^cluster\s+kafka\s+3/3 brokers, quorum leader [123] \(epoch \d+\), 3/3 voters running, "
        r"under-replicated partitions 0/\d+$",
        status.stdout,
        re.MULTILINE,
    )
    assert cluster_line, status.stdout
