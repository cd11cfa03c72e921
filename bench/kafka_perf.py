"""Kafka's own producer benchmark (`kafka-producer-perf-test`, the Java client) for the ceiling.

The stack's Kafka jars hold the broker, not the tools: kafka-tools at the same version (with
its dependencies) is copied from Maven Central by bench/kafka-perf/pom.xml into the stack's
dist folder once, then reused. Records are `record_size` bytes (the mean size of the API's Avro
payloads), unkeyed (ProducerPerformance sends no keys), with the API producer's settings:
acks=all, idempotent, the same compression, linger and batch size.
"""

import re
import shutil
import subprocess
from pathlib import Path

from infra.stack.java import find_java
from ugc.settings import PROJECT_ROOT, Settings

POM = PROJECT_ROOT / "bench" / "kafka-perf" / "pom.xml"
TOOL = "org.apache.kafka.tools.ProducerPerformance"
_RESULT = re.compile(r"(\d+) records sent, ([\d.]+) records/sec .*?([\d.]+) ms avg latency")


def tools_dir(settings: Settings) -> Path:
    """kafka-tools and its dependencies, fetched by Maven the first time."""
    libs = settings.stack_dir / "dist" / "kafka-perf-tools" / "libs"
    if (libs.parent / ".complete").exists():
        return libs
    shutil.rmtree(libs.parent, ignore_errors=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs}"],
        check=True, cwd=PROJECT_ROOT,
    )  # fmt: skip
    (libs.parent / ".complete").touch()
    return libs


def producer_perf_test(settings: Settings, topic: str, records: int, record_size: int) -> float:
    """Records/s that Kafka's Java producer sustains, acknowledged by all in-sync replicas."""
    java = find_java(17, settings.stack_java21_home)
    props = [
        f"bootstrap.servers={settings.kafka_bootstrap}",
        "acks=all",
        "enable.idempotence=true",
        f"compression.type={settings.producer_compression or 'none'}",
        f"linger.ms={settings.producer_linger_ms}",
        f"batch.size={256 * 1024}",
    ]
    out = subprocess.run(
        [java, "-Xmx512m", "-cp", f"{tools_dir(settings)}/*", TOOL, "--topic", topic,
         "--num-records", str(records), "--record-size", str(record_size),
         "--throughput", "-1", "--producer-props", *props],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip
    found = _RESULT.findall(out)
    if not found:
        raise RuntimeError(f"no result from {TOOL}:\n{out[-2000:]}")
    sent, per_s, _ = found[-1]  # the last line is the summary of the whole run
    if int(sent) != records:
        raise RuntimeError(f"{TOOL} sent {sent} of {records} records")
    return float(per_s)
