"""Create the MongoDB indexes of the Beanie documents that are missing, and on the local FerretDB
the PostgreSQL indexes its queries need and the guards against its lost updates
(sinks/mongo/postgres.py)."""

from pymongo import AsyncMongoClient

from infra.init.report import InitResult, Outcome
from sinks.mongo import postgres
from sinks.mongo.client import create_missing_indexes, mongo_client
from ugc.settings import Settings


async def init_mongo(settings: Settings) -> list[InitResult]:
    client = mongo_client(settings)
    try:
        created = await create_missing_indexes(client, settings)
        results = [
            InitResult("mongo", "index", name, Outcome.CREATED if new else Outcome.EXISTED)
            for name, new in created.items()
        ]
        if settings.mongo_postgres_url and await is_ferretdb(client):
            results += await _init_postgres_indexes(client, settings)
    finally:
        await client.close()
    return results


async def is_ferretdb(client: AsyncMongoClient) -> bool:
    info = await client.admin.command("buildInfo")
    return "ferretdbVersion" in info


async def _init_postgres_indexes(client: AsyncMongoClient, settings: Settings) -> list[InitResult]:
    database = client[settings.mongo_db]
    existing = set(await database.list_collection_names())
    for name in postgres.COLLECTIONS:
        if name not in existing:
            await database.create_collection(name)  # FerretDB creates its table
    connection = await postgres.connect(settings.mongo_postgres_url)
    try:
        indexes = await postgres.create_missing_indexes(connection, settings.mongo_db)
        guards = await postgres.create_missing_guards(connection, settings.mongo_db)
    finally:
        await connection.close()
    return [
        InitResult("mongo", kind, label, Outcome.CREATED if new else Outcome.EXISTED, "postgresql")
        for kind, created in (("gin index", indexes), ("update guard", guards))
        for label, new in created.items()
    ]
