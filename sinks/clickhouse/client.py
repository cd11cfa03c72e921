"""One way to get a ClickHouse client: a server over HTTP when configured, else embedded chDB."""

from collections.abc import Iterator
from contextlib import contextmanager

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from ugc.settings import Settings


def open_clickhouse(settings: Settings) -> Client:
    if settings.clickhouse_url:
        return clickhouse_connect.get_client(dsn=settings.clickhouse_url)
    settings.clickhouse_path.mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(interface="chdb", path=str(settings.clickhouse_path))


@contextmanager
def clickhouse_client(settings: Settings) -> Iterator[Client]:
    """A client closed on exit; for chDB closing releases the folder for another process."""
    client = open_clickhouse(settings)
    try:
        yield client
    finally:
        client.close()


def is_locked_error(exc: Exception) -> bool:
    """chDB refuses a folder that another process has open."""
    return "Error initializing EmbeddedServer" in str(exc)
