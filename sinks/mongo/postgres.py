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

Each table the workers update also gets a trigger that refuses an update whose version (`_v`)
does not move past the stored one: FerretDB computes an update from the document it read and
writes it whole, so such a write was computed from a document another writer changed since,
and would undo that change (sinks/mongo/conflicts.py sends it again). PostgreSQL runs the
trigger on the newest row version, after waiting for a concurrent writer's row lock.

Only for FerretDB: a real MongoDB (production) uses the indexes of sinks/mongo/documents.py and
applies each update atomically.
"""

from dataclasses import dataclass

import psycopg
from psycopg import sql

from sinks.mongo.conflicts import CONFLICT_MESSAGE, VERSION
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
# The collections whose documents are updated (viewing_events_seen is only inserted).
VERSIONED: tuple[str, ...] = (
    Progress.Settings.name,
    Favourite.Settings.name,
    UserRating.Settings.name,
    FilmRating.Settings.name,
)
GUARD_FUNCTION = "ugc_refuse_lost_update"


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


def _guard_name(table: str) -> str:
    return f"{table}_ugc_version"


async def _trigger_exists(connection: psycopg.AsyncConnection, database: str, name: str) -> bool:
    row = await (
        await connection.execute(
            """
            SELECT 1 FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND t.tgname = %s
            """,
            [database, name],
        )
    ).fetchone()
    return row is not None


async def create_missing_guards(
    connection: psycopg.AsyncConnection, database: str, collections: tuple[str, ...] = VERSIONED
) -> dict[str, bool]:
    """The lost-update guard on each collection's table; collection -> created now. The
    function is (re)defined every time, so a changed definition reaches existing triggers."""
    tables = await collection_tables(connection, database)
    version = sql.SQL("coalesce(({row}.{column}->>{field})::numeric, 0)")
    await connection.execute(
        sql.SQL(
            """
            CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {new_version} <= {old_version} THEN
                    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
                        MESSAGE = {message} || ': ' || (OLD.{column}->>'_id');
                END IF;
                RETURN NEW;
            END $$
            """
        ).format(
            function=sql.Identifier(database, GUARD_FUNCTION),
            new_version=version.format(
                row=sql.SQL("NEW"),
                column=sql.Identifier(DOCUMENT_COLUMN),
                field=sql.Literal(VERSION),
            ),
            old_version=version.format(
                row=sql.SQL("OLD"),
                column=sql.Identifier(DOCUMENT_COLUMN),
                field=sql.Literal(VERSION),
            ),
            message=sql.Literal(CONFLICT_MESSAGE),
            column=sql.Identifier(DOCUMENT_COLUMN),
        )
    )
    outcome = {}
    for collection in collections:
        table = tables.get(collection)
        if table is None:
            raise LookupError(f"FerretDB has no table for collection {collection} yet")
        name = _guard_name(table)
        exists = await _trigger_exists(connection, database, name)
        if not exists:
            await connection.execute(
                sql.SQL(
                    "CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION {function}()"
                ).format(
                    name=sql.Identifier(name),
                    table=sql.Identifier(database, table),
                    function=sql.Identifier(database, GUARD_FUNCTION),
                )
            )
        outcome[f"{collection}.{VERSION}"] = not exists
    return outcome


async def drop_guard(connection: psycopg.AsyncConnection, database: str, collection: str) -> None:
    """Drop one collection's guard (tests show what its absence costs)."""
    table = (await collection_tables(connection, database))[collection]
    await connection.execute(
        sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
            sql.Identifier(_guard_name(table)), sql.Identifier(database, table)
        )
    )
