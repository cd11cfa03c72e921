"""The MongoDB connection the projection agents share in a worker process, opened on first use."""

from sinks.mongo.client import mongo_client
from sinks.mongo.projections import ProjectionWriter
from streams.app import settings

_mongo = mongo_client(settings)
projections = ProjectionWriter(
    _mongo[settings.mongo_db], settings.mongo_write_concurrency, settings.mongo_updates_per_command
)
