"""ClickHouse: embedded chDB by default (no process), or a server over HTTP when a URL is set."""

from importlib import metadata

from clickhouse_connect.driver.exceptions import ClickHouseError

from infra.stack.base import Component, Health
from sinks.clickhouse.client import clickhouse_client, is_locked_error


class ClickHouse(Component):
    name = "clickhouse"
    has_process = False

    @property
    def version(self) -> str:  # type: ignore[override]
        if self.settings.clickhouse_url:
            return "server"
        return f"chDB {metadata.version('chdb-core')}"

    @property
    def address(self) -> str:
        return self.settings.clickhouse_url or f"chdb:{self.settings.clickhouse_path}"

    def health(self) -> Health:
        try:
            with clickhouse_client(self.settings) as client:
                version = client.server_version
        except ClickHouseError as exc:
            if is_locked_error(exc):
                # One process owns a chDB folder; the running worker holding it is healthy.
                return Health(True, "folder in use by the worker")
            return Health(False, f"{type(exc).__name__}: {exc}")
        return Health(True, f"ClickHouse {version}")
