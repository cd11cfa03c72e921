"""ClickHouse tables of the service, rendered for one node (chDB or a server) or for a cluster.

The same table specs produce the local DDL and the cluster DDL (Replicated*MergeTree tables
named `<table>_local` on every replica plus a Distributed table over them), so the two never
drift apart. Raw event tables use ReplacingMergeTree ordered by a key that ends with event_id:
a redelivered event collapses into one row (queries read them with FINAL).
"""

from dataclasses import dataclass

from ugc.events import Family

EVENT_HEADER = (
    ("event_id", "UUID"),
    ("user_id", "UUID"),
    ("movie_id", "UUID"),
    ("client_ts", "DateTime64(3, 'UTC')"),
    ("server_ts", "DateTime64(3, 'UTC')"),
)
INGESTED_AT = ("ingested_at", "DateTime64(3, 'UTC') DEFAULT now64(3)")


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]
    engine: str  # a MergeTree family engine without arguments, e.g. "ReplacingMergeTree"
    order_by: str
    partition_by: str = ""
    engine_args: str = ""
    sharding_key: str = "cityHash64(user_id)"


@dataclass(frozen=True)
class ViewSpec:
    """A materialized view feeding `target` from `source`."""

    name: str
    source: str
    target: str
    select: str  # SELECT ... with {source} in place of the source table


def _event_table(name: str, *payload: tuple[str, str]) -> TableSpec:
    return TableSpec(
        name=name,
        columns=(*EVENT_HEADER, *payload, INGESTED_AT),
        engine="ReplacingMergeTree",
        # Every column of the key is fixed per event, so duplicates share one key.
        order_by="(movie_id, user_id, event_id)",
        partition_by="toYYYYMM(server_ts)",
    )


EVENT_TABLES: dict[Family, TableSpec] = {
    Family.PLAYBACK: _event_table(
        "playback_events",
        ("action", "LowCardinality(String)"),
        ("position_ms", "Int64"),
        ("from_position_ms", "Nullable(Int64)"),
        ("duration_ms", "Nullable(Int64)"),
    ),
    Family.VIEWING: _event_table(
        "viewing_events",
        ("watched_seconds", "UInt32"),
        ("session_id", "Nullable(UUID)"),
    ),
    Family.FAVOURITES: _event_table("favourite_events", ("action", "LowCardinality(String)")),
    Family.RATINGS: _event_table("rating_events", ("score", "Nullable(UInt8)")),
}

# Watch time per viewer, film and day for the recommender. The MV sees every inserted row,
# redelivered ones too, so it keeps the set of (event_id, seconds) pairs rather than a running
# sum: a duplicate adds nothing to a set, and the sum over the set is exact.
WATCH_TIME_DAILY = TableSpec(
    name="watch_time_daily",
    columns=(
        ("user_id", "UUID"),
        ("movie_id", "UUID"),
        ("day", "Date"),
        ("watched", "AggregateFunction(groupUniqArray, Tuple(UUID, UInt32))"),
    ),
    engine="AggregatingMergeTree",
    order_by="(user_id, movie_id, day)",
    partition_by="toYYYYMM(day)",
)
WATCH_TIME_DAILY_MV = ViewSpec(
    name="watch_time_daily_mv",
    source=EVENT_TABLES[Family.VIEWING].name,
    target=WATCH_TIME_DAILY.name,
    select=(
        "SELECT user_id, movie_id, toDate(client_ts) AS day, "
        "groupUniqArrayState((event_id, watched_seconds)) AS watched "
        "FROM {source} GROUP BY user_id, movie_id, day"
    ),
)

TABLES: tuple[TableSpec, ...] = (*EVENT_TABLES.values(), WATCH_TIME_DAILY)
VIEWS: tuple[ViewSpec, ...] = (WATCH_TIME_DAILY_MV,)


def ddl_statements(database: str, cluster: str = "") -> list[str]:
    """CREATE statements, in order, for one node (cluster="") or for the named cluster."""
    on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
    statements = [f"CREATE DATABASE IF NOT EXISTS {database}{on_cluster}"]
    for table in TABLES:
        statements.extend(_table_ddl(database, table, cluster))
    for view in VIEWS:
        # On a cluster the view lives next to each replica's local tables.
        suffix = "_local" if cluster else ""
        source = f"{database}.{view.source}{suffix}"
        statements.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{view.name}{on_cluster} "
            f"TO {database}.{view.target}{suffix} AS {view.select.format(source=source)}"
        )
    return statements


def _table_ddl(database: str, table: TableSpec, cluster: str) -> list[str]:
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in table.columns)
    partition = f"\nPARTITION BY {table.partition_by}" if table.partition_by else ""
    if not cluster:
        return [
            f"CREATE TABLE IF NOT EXISTS {database}.{table.name} (\n    {columns}\n)\n"
            f"ENGINE = {table.engine}({table.engine_args}){partition}\nORDER BY {table.order_by}"
        ]
    local = f"{table.name}_local"
    replication = f"'/clickhouse/tables/{{shard}}/{database}/{local}', '{{replica}}'"
    args = f"{replication}, {table.engine_args}" if table.engine_args else replication
    return [
        f"CREATE TABLE IF NOT EXISTS {database}.{local} ON CLUSTER {cluster} (\n    {columns}\n)\n"
        f"ENGINE = Replicated{table.engine}({args}){partition}\nORDER BY {table.order_by}",
        f"CREATE TABLE IF NOT EXISTS {database}.{table.name} ON CLUSTER {cluster} "
        f"AS {database}.{local}\n"
        f"ENGINE = Distributed({cluster}, {database}, {local}, {table.sharding_key})",
    ]


def object_names() -> list[str]:
    """Tables and views a one-node database holds after `ddl_statements` ran."""
    return [t.name for t in TABLES] + [v.name for v in VIEWS]
