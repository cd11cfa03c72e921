"""`ugc stack up | down | status | logs`: the local single-node stack without Docker."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from infra.stack.base import Component, Health, StackLayout
from infra.stack.clickhouse import ClickHouse
from infra.stack.ferretdb import FerretDB
from infra.stack.kafka import Kafka
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
        self.components: list[Component] = [
            cls(settings, self.layout)
            for cls in (Kafka, SchemaRegistry, Postgres, FerretDB, ClickHouse, Nginx)
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
        for component in self.components:
            self.start(component, echo)

    def start(self, component: Component, echo: Echo) -> None:
        """Start one component unless it runs already, and wait until it is healthy."""
        pid = component.process.pid()
        if pid is not None:
            health = self._wait_healthy(component)
            echo(f"{component.name}: already running (pid {pid}), {health.detail}")
            return
        if not component.has_process:
            health = component.health()
            if not health.ok:
                raise StackError(f"{component.name} is not healthy: {health.detail}")
            echo(f"{component.name}: {health.detail}")
            return
        launch = component.launch()
        for host, port in component.listen_ports():
            if port_open(host, port):
                raise StackError(
                    f"{component.name}: {host}:{port} is already taken by another process; "
                    "stop it or choose another port (see .env.example)"
                )
        started = time.monotonic()
        pid = component.process.start(launch.argv, launch.cwd, launch.env, launch.user)
        health = self._wait_healthy(component)
        echo(
            f"{component.name}: started (pid {pid}) "
            f"in {time.monotonic() - started:.1f}s, {health.detail}"
        )

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

    def log_tail(self, name: str, lines: int) -> str:
        return self.component(name).process.log_tail(lines)
