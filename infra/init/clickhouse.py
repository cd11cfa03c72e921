"""Create the ClickHouse database, tables and views that are missing."""

from clickhouse_connect.driver.exceptions import ClickHouseError

from infra.init.report import InitResult, Outcome
from sinks.clickhouse.client import clickhouse_client, is_locked_error
from sinks.clickhouse.ddl import ddl_statements, object_names
from ugc.settings import Settings


def init_clickhouse(settings: Settings) -> list[InitResult]:
    try:
        return _create_missing(settings)
    except ClickHouseError as exc:
        if not is_locked_error(exc):
            raise
        # The running worker owns the chDB folder and created the tables when it started.
        note = "chDB folder in use by the worker, which creates them at start"
        return [InitResult("clickhouse", "database", settings.clickhouse_db, Outcome.SKIPPED, note)]


def _create_missing(settings: Settings) -> list[InitResult]:
    database = settings.clickhouse_db
    with clickhouse_client(settings) as client:
        before = {
            row[0]
            for row in client.query(
                "SELECT name FROM system.tables WHERE database = {db:String}",
                parameters={"db": database},
            ).result_rows
        }
        for statement in ddl_statements(database, settings.clickhouse_cluster):
            client.command(statement)
    return [
        InitResult(
            "clickhouse",
            "table",
            f"{database}.{name}",
            Outcome.EXISTED if name in before else Outcome.CREATED,
        )
        for name in object_names()
    ]
