"""Apache Kafka in KRaft combined mode (broker + controller), from Maven Central jars."""

import asyncio
import base64
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from infra.stack.base import (
    INFRA_DIR,
    Component,
    Health,
    Launch,
    is_complete,
    mark_complete,
    run_tool,
)
from infra.stack.java import find_java
from infra.stack.process import port_open

KAFKA_VERSION = "4.4.0"
POM = INFRA_DIR / "kafka" / "pom.xml"

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
    name = "kafka"
    version = KAFKA_VERSION

    @property
    def address(self) -> str:
        return self.settings.kafka_bootstrap

    def listen_ports(self) -> list[tuple[str, int]]:
        host, port = self.settings.kafka_host_port
        return [(host, port), (host, self.settings.stack_kafka_controller_port)]

    @property
    def dist_dir(self) -> Path:
        return self.dist_dir_for(POM)

    @property
    def libs(self) -> Path:
        return self.dist_dir / "libs"

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
        host, port = self.settings.kafka_host_port
        controller = f"{host}:{self.settings.stack_kafka_controller_port}"
        data = self.layout.data_dir("kafka")
        conf = self.layout.conf
        conf.mkdir(parents=True, exist_ok=True)
        properties = conf / "kafka.properties"
        properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{controller}",
                    f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
                    f"advertised.listeners=PLAINTEXT://{host}:{port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={data}",
                    f"num.partitions={self.settings.kafka_partitions}",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    # One node: no reason to delay the first consumer group rebalance.
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
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
        if not port_open(*self.settings.kafka_host_port):
            return Health(False, "port closed")
        try:
            # A thread of its own: callers may already be running an event loop.
            with ThreadPoolExecutor(max_workers=1) as pool:
                brokers = pool.submit(asyncio.run, _describe_cluster(self.address)).result()
        except Exception as exc:
            return Health(False, f"{type(exc).__name__}: {exc}")
        if not brokers:
            return Health(False, "no broker registered yet")
        return Health(True, f"{brokers} broker(s)")


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64, never starting with "-" (the
    tools would read that as an option, so Kafka's own generator avoids it too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


async def _describe_cluster(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=4000)
    try:
        async with asyncio.timeout(5.0):
            await admin.start()
            cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return len(cluster.get("brokers", []))
