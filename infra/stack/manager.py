"""`ugc stack up | down | status | logs`: the local stack without Docker (one node of each
component, or a Kafka cluster of several with `UGC_STACK_KAFKA_BROKERS`)."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from infra.stack.base import Component, Health, StackLayout
from infra.stack.clickhouse import ClickHouse
from infra.stack.ferretdb import FerretDB
from infra.stack.kafka import cluster_summary, kafka_nodes
from infra.stack.nginx import Nginx
from infra.stack.postgres import Postgres
from infra.stack.process import StackError, port_open, wait_until
from infra.stack.registry import SchemaRegistry
from ugc.settings import Settings

Echo = Callable[[str], None]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    version: str
    address: str
    pid: int | None
    health: Health


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = StackLayout(settings.stack_dir, settings.stack_dist_dir)
        self.kafka_nodes = kafka_nodes(settings, self.layout)
        self.components: list[Component] = [
            *self.kafka_nodes,
            *(
                cls(settings, self.layout)
                for cls in (SchemaRegistry, Postgres, FerretDB, ClickHouse, Nginx)
            ),
        ]

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        raise StackError(f"no component {name!r}; known: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [c.name for c in self.components]

    def up(self, echo: Echo) -> None:
        """Provision, start and wait for every component; a running healthy one is left alone."""
        for component in self.components:
            echo(f"provision {component.name} {component.version}")
            started = time.monotonic()
            component.provision()
            echo(f"  ready in {time.monotonic() - started:.1f}s")
        # The Kafka nodes start together: none is healthy before a quorum of voters runs.
        self.start_all(self.kafka_nodes, echo)
        for component in self.components[len(self.kafka_nodes) :]:
            self.start(component, echo)

    def start(self, component: Component, echo: Echo) -> None:
        """Start one component unless it runs already, and wait until it is healthy."""
        self.start_all([component], echo)

    def start_all(self, components: Sequence[Component], echo: Echo) -> None:
        """Start those of the components that are not running, then wait for each to be
        healthy."""
        started: dict[str, tuple[int, float]] = {}
        for component in components:
            if component.process.pid() is None and component.has_process:
                started[component.name] = (self._launch(component), time.monotonic())
        for component in components:
            if component.name in started:
                pid, began = started[component.name]
                health = self._wait_healthy(component)
                echo(
                    f"{component.name}: started (pid {pid}) "
                    f"in {time.monotonic() - began:.1f}s, {health.detail}"
                )
            elif (pid_now := component.process.pid()) is not None:
                health = self._wait_healthy(component)
                echo(f"{component.name}: already running (pid {pid_now}), {health.detail}")
            else:
                health = component.health()
                if not health.ok:
                    raise StackError(f"{component.name} is not healthy: {health.detail}")
                echo(f"{component.name}: {health.detail}")

    def _launch(self, component: Component) -> int:
        launch = component.launch()
        for host, port in component.listen_ports():
            if port_open(host, port):
                raise StackError(
                    f"{component.name}: {host}:{port} is already taken by another process; "
                    "stop it or choose another port (see .env.example)"
                )
        return component.process.start(launch.argv, launch.cwd, launch.env, launch.user)

    def _wait_healthy(self, component: Component) -> Health:
        last = Health(False, "not checked")

        def healthy() -> bool:
            nonlocal last
            if component.has_process and component.process.pid() is None:
                tail = component.process.log_tail()
                raise StackError(f"{component.name} exited during start-up; log tail:\n{tail}")
            last = component.health()
            return last.ok

        if not wait_until(healthy, self.settings.stack_start_timeout_s, interval_s=0.5):
            raise StackError(
                f"{component.name} not healthy after {self.settings.stack_start_timeout_s:.0f}s "
                f"({last.detail}); log tail:\n{component.process.log_tail()}"
            )
        return last

    def down(self, echo: Echo) -> None:
        for component in reversed(self.components):
            if component.process.stop():
                echo(f"{component.name}: stopped")
            else:
                echo(f"{component.name}: not running")

    def status(self) -> list[ComponentStatus]:
        return [
            ComponentStatus(c.name, c.version, c.address, c.process.pid(), c.health())
            for c in self.components
        ]

    def kafka_cluster(self) -> str:
        """Brokers, controller quorum and under-replicated partitions, in one line."""
        return cluster_summary(self.kafka_nodes, self.settings.kafka_bootstrap)

    def log_tail(self, name: str, lines: int) -> str:
        return self.component(name).process.log_tail(lines)
