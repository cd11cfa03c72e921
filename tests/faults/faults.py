"""Faults done to the real stack's processes: kill -9, SIGSTOP/SIGCONT, stop; and waiting until
the Kafka cluster is whole again."""

import os
import signal
from collections import Counter

from infra.stack.base import Component
from infra.stack.kafka import Kafka, cluster_metadata
from infra.stack.manager import Stack
from infra.stack.process import group_alive, wait_until
from ugc.events import Family, topic_name
from ugc.settings import Settings


def leaders_node(stack: Stack, settings: Settings) -> Kafka:
    """The node leading the most partitions of the event topics."""
    metadata = cluster_metadata(settings.kafka_bootstrap)
    topics = {topic_name(settings, family) for family in Family}
    leaders = Counter(
        p.leader for name in topics for p in metadata.topics[name].partitions.values()
    )
    node_id = leaders.most_common(1)[0][0]
    return next(n for n in stack.kafka_nodes if n.node_id == node_id)


def signal_group(component: Component, sig: signal.Signals) -> int:
    pid = component.process.pid()
    assert pid is not None, f"{component.name} is not running"
    os.killpg(pid, sig)
    return pid


def kill_9(component: Component) -> None:
    """No shutdown at all; the pid file is left for `start` to find stale."""
    pid = signal_group(component, signal.SIGKILL)
    assert wait_until(lambda: not group_alive(pid), 15), f"{component.name} survived SIGKILL"


def under_replicated(settings: Settings) -> int:
    metadata = cluster_metadata(settings.kafka_bootstrap)
    partitions = [p for t in metadata.topics.values() for p in t.partitions.values()]
    return sum(1 for p in partitions if len(p.isrs) < len(p.replicas))


def cluster_whole(stack: Stack, settings: Settings) -> bool:
    """Every node a registered broker and every partition fully in sync."""
    try:
        return all(n.health().ok for n in stack.kafka_nodes) and under_replicated(settings) == 0
    except Exception:  # a node still starting: not whole yet
        return False


def restore(stack: Stack, settings: Settings, timeout_s: float = 120.0) -> None:
    """Start whatever a scenario stopped or killed (a paused node is resumed), then wait until
    the cluster is whole again."""
    processes = [c for c in stack.components if c.has_process]  # chDB is the worker's
    for component in processes:
        if (pid := component.process.pid()) is not None:
            os.killpg(pid, signal.SIGCONT)
    stack.start_all(processes, lambda line: None)
    assert wait_until(lambda: cluster_whole(stack, settings), timeout_s, interval_s=1.0), (
        f"the cluster is not whole {timeout_s}s after a scenario: {stack.kafka_cluster()}"
    )
