"""Connecting Beanie to MongoDB (FerretDB locally, a replica set in production)."""

from beanie import init_beanie
from pymongo import AsyncMongoClient

from sinks.mongo.documents import DOCUMENT_MODELS
from ugc.settings import Settings


def mongo_client(settings: Settings, timeout_ms: int = 5000) -> AsyncMongoClient:
    return AsyncMongoClient(
        settings.mongo_url,
        uuidRepresentation="standard",
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
    )


async def init_documents(client: AsyncMongoClient, settings: Settings) -> None:
    """Bind the document models to the database. Indexes are the initer's job (`ugc init`):
    Beanie sends every index of a collection in one createIndexes, which FerretDB 1.24 fails
    on when they already exist."""
    await init_beanie(
        database=client[settings.mongo_db], document_models=DOCUMENT_MODELS, skip_indexes=True
    )


async def create_missing_indexes(client: AsyncMongoClient, settings: Settings) -> dict[str, bool]:
    """Create each declared index that is missing, one at a time; name -> created now."""
    database = client[settings.mongo_db]
    outcome = {}
    for model in DOCUMENT_MODELS:
        collection = database[model.Settings.name]
        existing = set(await collection.index_information())
        for index in model.Settings.indexes:
            name = index.document["name"]
            if name not in existing:
                await collection.create_indexes([index])
            outcome[f"{collection.name}.{name}"] = name not in existing
    return outcome
