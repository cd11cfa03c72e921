"""clickhouse-connect on embedded chDB: the service's tables, and duplicates collapsing."""

import uuid
from datetime import UTC, datetime

from sinks.clickhouse.client import clickhouse_client
from sinks.clickhouse.ddl import EVENT_TABLES, ddl_statements
from ugc.events import Family

COLUMNS = ["event_id", "user_id", "movie_id", "client_ts", "server_ts", "watched_seconds"]


def test_insert_and_select_with_redelivery_collapsed(settings, tmp_path):
    # A folder of its own: the stack's chDB folder belongs to the worker while it runs.
    settings = settings.model_copy(update={"clickhouse_path": tmp_path / "chdb"})
    table = f"{settings.clickhouse_db}.{EVENT_TABLES[Family.VIEWING].name}"
    user, film = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    rows = [[uuid.uuid4(), user, film, now, now, 60 * (i + 1)] for i in range(3)]

    with clickhouse_client(settings) as client:
        for statement in ddl_statements(settings.clickhouse_db):
            client.command(statement)
        client.insert(table, rows, column_names=COLUMNS)
        client.insert(table, rows[:1], column_names=COLUMNS)  # a redelivered event
        result = client.query(
            f"SELECT count(), sum(watched_seconds) FROM {table} FINAL WHERE user_id = {{u:UUID}}",
            parameters={"u": user},
        ).result_rows
        daily = client.query(
            "SELECT arraySum(x -> x.2, groupUniqArrayMerge(watched)) "
            f"FROM {settings.clickhouse_db}.watch_time_daily WHERE user_id = {{u:UUID}}",
            parameters={"u": user},
        ).result_rows

    assert result == [(3, 60 + 120 + 180)]
    assert daily == [(360,)]
