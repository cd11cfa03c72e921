"""The PostgreSQL under the local FerretDB: the indexes its queries need that it cannot create.

FerretDB 1.24 on PostgreSQL keeps each collection of a MongoDB database as a table (named in
the schema's `_ferretdb_database_metadata`) with one `jsonb` column, `_jsonb`. It pushes an
equality filter down as containment, `_jsonb->'_id' @> '"user:movie"'` (also inside an update's
filter with `$or`), and evaluates the rest of the filter, sorts and limits in Go. Its own
indexes are btrees on `(_jsonb->'field')`, which serve `=` but not `@>` (upstream issue
FerretDB#4646): every update and read would scan the table. A GIN index on the same expression
serves `@>`, so each projection table gets one on `_id` and one on every field a read filters
by (`user_id`). `ugc init` creates them; tests/integration/test_postgres_plans.py checks with
PostgreSQL's own plans that the projection writes and the read API's queries use them.

Only for FerretDB: a real MongoDB (production) uses the indexes of sinks/mongo/documents.py.
"""

from dataclasses import dataclass

import psycopg
from psycopg import sql

from sinks.mongo.documents import Favourite, FilmRating, Progress, UserRating
from sinks.mongo.projections import VIEWING_SEEN

METADATA_TABLE = "_ferretdb_database_metadata"
DOCUMENT_COLUMN = "_jsonb"


@dataclass(frozen=True)
class JsonbIndex:
    """A GIN index on one top-level field of a collection's documents."""

    collection: str
    field: str

    @property
    def label(self) -> str:
        return f"{self.collection}.{self.field}"

    def name(self, table: str) -> str:
        # FerretDB names its own indexes <table>_<index>_<hash>_idx; ours cannot collide.
        return f"{table}_{self.field.strip('_')}_gin"


# `_id`: every projection write and every single-document read. `user_id`: the read API's
# lists (favourites, continue watching) and the per-viewer index the documents declare.
INDEXES: tuple[JsonbIndex, ...] = (
    JsonbIndex(Progress.Settings.name, "_id"),
    JsonbIndex(Progress.Settings.name, "user_id"),
    JsonbIndex(Favourite.Settings.name, "_id"),
    JsonbIndex(Favourite.Settings.name, "user_id"),
    JsonbIndex(UserRating.Settings.name, "_id"),
    JsonbIndex(UserRating.Settings.name, "user_id"),
    JsonbIndex(FilmRating.Settings.name, "_id"),
    JsonbIndex(VIEWING_SEEN, "_id"),
)
COLLECTIONS: tuple[str, ...] = tuple(dict.fromkeys(index.collection for index in INDEXES))


async def connect(url: str) -> psycopg.AsyncConnection:
    """A connection in autocommit (CREATE INDEX CONCURRENTLY runs outside a transaction)."""
    return await psycopg.AsyncConnection.connect(
        url, autocommit=True, connect_timeout=5, application_name="ugc-init"
    )


async def collection_tables(connection: psycopg.AsyncConnection, database: str) -> dict[str, str]:
    """Collection -> table of a MongoDB database (a PostgreSQL schema); empty if none yet."""
    exists = await (
        await connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [f'"{database}".{METADATA_TABLE}']
        )
    ).fetchone()
    if not exists or not exists[0]:
        return {}
    query = sql.SQL("SELECT {column}->>'_id', {column}->>'table' FROM {metadata}").format(
        column=sql.Identifier(DOCUMENT_COLUMN),
        metadata=sql.Identifier(database, METADATA_TABLE),
    )
    rows = await (await connection.execute(query)).fetchall()
    return {str(name): str(table) for name, table in rows}


async def _index_state(
    connection: psycopg.AsyncConnection, database: str, name: str
) -> bool | None:
    """None when missing, else whether it is valid (a failed CONCURRENTLY build is not)."""
    row = await (
        await connection.execute(
            """
            SELECT i.indisvalid
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s
            """,
            [database, name],
        )
    ).fetchone()
    return None if row is None else bool(row[0])


async def create_missing_indexes(
    connection: psycopg.AsyncConnection, database: str, indexes: tuple[JsonbIndex, ...] = INDEXES
) -> dict[str, bool]:
    """Create each index that is missing (or left invalid); label -> created now. The
    collections must exist (FerretDB creates their tables)."""
    tables = await collection_tables(connection, database)
    outcome = {}
    for index in indexes:
        table = tables.get(index.collection)
        if table is None:
            raise LookupError(f"FerretDB has no table for collection {index.label} yet")
        name = index.name(table)
        state = await _index_state(connection, database, name)
        if state is False:
            await connection.execute(
                sql.SQL("DROP INDEX CONCURRENTLY {}").format(sql.Identifier(database, name))
            )
        if state is not True:
            # CONCURRENTLY: a collection already holding documents keeps taking writes.
            await connection.execute(
                sql.SQL(
                    "CREATE INDEX CONCURRENTLY {name} ON {table} USING gin (({column}->{field}))"
                ).format(
                    name=sql.Identifier(name),
                    table=sql.Identifier(database, table),
                    column=sql.Identifier(DOCUMENT_COLUMN),
                    field=sql.Literal(index.field),
                )
            )
        outcome[index.label] = state is not True
    return outcome


async def drop_index(connection: psycopg.AsyncConnection, database: str, index: JsonbIndex) -> None:
    """Drop one of the indexes (tests show what its absence costs)."""
    table = (await collection_tables(connection, database))[index.collection]
    await connection.execute(
        sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(database, index.name(table)))
    )
