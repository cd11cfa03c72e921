"""Apache Kafka in KRaft combined mode (broker + controller), from Maven Central jars: one node,
or a cluster of several on one machine (`UGC_STACK_KAFKA_BROKERS`)."""

import base64
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, cast

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata

from infra.stack.base import (
    INFRA_DIR,
    Component,
    Health,
    Launch,
    StackLayout,
    is_complete,
    mark_complete,
    run_tool,
)
from infra.stack.java import find_java
from infra.stack.process import port_open
from ugc.settings import Settings

KAFKA_VERSION = "4.4.0"
POM = INFRA_DIR / "kafka" / "pom.xml"
QUORUM_STATE = Path("__cluster_metadata-0") / "quorum-state"
BROKER_SESSION_TIMEOUT_MS = 6000

LOG4J2_PROPERTIES = """\
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.state.name = state.change.logger
logger.state.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
"""


class Kafka(Component):
    """One Kafka node: broker and controller. A stack runs `UGC_STACK_KAFKA_BROKERS` of them, one
    KRaft quorum whose voters are all the nodes; a single node keeps the plain name `kafka`."""

    version = KAFKA_VERSION

    def __init__(self, settings: Settings, layout: StackLayout, node_id: int = 1) -> None:
        self.node_id = node_id
        self.nodes = settings.kafka_node_addresses
        self.name = "kafka" if len(self.nodes) == 1 else f"kafka-{node_id}"
        super().__init__(settings, layout)

    @property
    def host(self) -> str:
        return self.nodes[self.node_id - 1][0]

    @property
    def port(self) -> int:
        return self.nodes[self.node_id - 1][1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def listen_ports(self) -> list[tuple[str, int]]:
        host, port, controller = self.nodes[self.node_id - 1]
        return [(host, port), (host, controller)]

    @property
    def dist_dir(self) -> Path:
        return self.dist_dir_for(POM)

    @property
    def libs(self) -> Path:
        return self.dist_dir / "libs"

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir(self.name)

    def provision(self) -> None:
        if is_complete(self.dist_dir):
            return
        shutil.rmtree(self.dist_dir, ignore_errors=True)
        run_tool(
            [
                "mvn", "-q", "-B", "-f", str(POM),
                "dependency:copy-dependencies", f"-DoutputDirectory={self.libs}",
                "-DincludeScope=runtime",
            ],
            cwd=INFRA_DIR / "kafka",
            what="fetching Kafka jars from Maven Central",
        )  # fmt: skip
        mark_complete(self.dist_dir)

    def launch(self) -> Launch:
        host, port, controller_port = self.nodes[self.node_id - 1]
        controller = f"{host}:{controller_port}"
        voters = ",".join(f"{n}@{h}:{c}" for n, (h, _, c) in enumerate(self.nodes, start=1))
        # Internal topics (consumer offsets, transactions) replicated like the service's own.
        replicas = self.settings.kafka_replication_factor
        min_isr = self.settings.kafka_min_insync_replicas
        conf = self.layout.conf
        conf.mkdir(parents=True, exist_ok=True)
        properties = conf / f"{self.name}.properties"
        properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node_id}",
                    f"controller.quorum.voters={voters}",
                    f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
                    f"advertised.listeners=PLAINTEXT://{host}:{port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data_dir}",
                    f"num.partitions={self.settings.kafka_partitions}",
                    f"default.replication.factor={replicas}",
                    f"min.insync.replicas={min_isr}",
                    f"offsets.topic.replication.factor={replicas}",
                    f"transaction.state.log.replication.factor={replicas}",
                    f"transaction.state.log.min.isr={min_isr}",
                    f"share.coordinator.state.topic.replication.factor={replicas}",
                    f"share.coordinator.state.topic.min.isr={min_isr}",
                    # No reason to delay the first consumer group rebalance on a local stack.
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    # A node that stops heartbeating (killed, paused) is fenced, and its
                    # partitions get new leaders, after this long (Kafka's default is 9 s).
                    f"broker.session.timeout.ms={BROKER_SESSION_TIMEOUT_MS}",
                    "",
                ]
            )
        )
        log4j = conf / "kafka-log4j2.properties"
        log4j.write_text(LOG4J2_PROPERTIES)
        java = find_java(17, self.settings.stack_java21_home)
        classpath = f"{self.libs}/*"
        self._format_storage(java, classpath, properties)
        heap = self.settings.stack_kafka_heap
        return Launch(
            argv=[
                java, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
                "-cp", classpath, "kafka.Kafka", str(properties),
            ],
            cwd=self.layout.root,
        )  # fmt: skip

    def _format_storage(self, java: str, classpath: str, properties: Path) -> None:
        # One id for the whole cluster: every node formats its storage with it.
        cluster_id_file = self.layout.conf / "kafka-cluster-id"
        if not cluster_id_file.exists():
            cluster_id_file.write_text(new_cluster_id())
        run_tool(
            [
                java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                "-t", cluster_id_file.read_text().strip(), "-c", str(properties),
                "--ignore-formatted",
            ],
            cwd=self.layout.root,
            what="formatting Kafka storage",
            env={**os.environ, "KAFKA_HEAP_OPTS": "-Xmx128m"},
        )  # fmt: skip

    def health(self) -> Health:
        """Healthy once this node answers and is a registered, unfenced broker."""
        if not port_open(self.host, self.port):
            return Health(False, "port closed")
        try:
            brokers = cluster_metadata(self.address).brokers
        except KafkaException as exc:
            return Health(False, f"{exc}")
        if self.node_id not in brokers:
            return Health(False, f"broker {self.node_id} not registered yet")
        return Health(True, f"{len(brokers)} broker(s)")

    def quorum_state(self) -> dict[str, Any] | None:
        """What this node last recorded of the controller quorum (leader, epoch, voters): KRaft
        writes the file at every election."""
        try:
            return cast(dict[str, Any], json.loads((self.data_dir / QUORUM_STATE).read_text()))
        except (FileNotFoundError, ValueError):
            return None


def kafka_nodes(settings: Settings, layout: StackLayout) -> list[Kafka]:
    return [Kafka(settings, layout, n) for n in range(1, settings.stack_kafka_brokers + 1)]


def cluster_metadata(bootstrap: str, timeout_s: float = 5.0) -> ClusterMetadata:
    """Brokers and topic partitions (replicas, in-sync replicas) as the cluster reports them."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 4000})
    return admin.list_topics(timeout=timeout_s)


def cluster_summary(nodes: list[Kafka], bootstrap: str) -> str:
    """One line on the cluster: brokers registered, the quorum leader and voters as the running
    nodes last recorded them, and under-replicated partitions (fewer in sync than replicas)."""
    running = [n for n in nodes if n.process.pid() is not None]
    states = [s for n in running if (s := n.quorum_state())]
    latest = max(states, key=lambda s: s.get("leaderEpoch", -1), default=None)
    if latest is None or latest.get("leaderId", -1) < 0:
        quorum = "no leader"
    else:
        quorum = f"leader {latest['leaderId']} (epoch {latest['leaderEpoch']})"
    voters = len(nodes)
    try:
        metadata = cluster_metadata(bootstrap)
    except KafkaException as exc:
        return f"quorum {quorum}, {len(running)}/{voters} voters running; brokers: {exc}"
    partitions = [p for t in metadata.topics.values() for p in t.partitions.values()]
    under = sum(1 for p in partitions if len(p.isrs) < len(p.replicas))
    return (
        f"{len(metadata.brokers)}/{voters} brokers, quorum {quorum}, "
        f"{len(running)}/{voters} voters running, "
        f"under-replicated partitions {under}/{len(partitions)}"
    )


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64, never starting with "-" (the
    tools would read that as an option, so Kafka's own generator avoids it too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id
