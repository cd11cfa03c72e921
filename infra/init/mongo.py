"""Create the MongoDB indexes of the Beanie documents that are missing."""

from infra.init.report import InitResult, Outcome
from sinks.mongo.client import create_missing_indexes, mongo_client
from ugc.settings import Settings


async def init_mongo(settings: Settings) -> list[InitResult]:
    client = mongo_client(settings)
    try:
        created = await create_missing_indexes(client, settings)
    finally:
        await client.close()
    return [
        InitResult("mongo", "index", name, Outcome.CREATED if new else Outcome.EXISTED)
        for name, new in created.items()
    ]
