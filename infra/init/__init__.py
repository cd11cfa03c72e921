"""`ugc init`: idempotent creation of topics, subjects, ClickHouse tables and MongoDB indexes."""

import asyncio

from infra.init.clickhouse import init_clickhouse
from infra.init.kafka_topics import init_topics
from infra.init.mongo import init_mongo
from infra.init.registry import init_subjects
from infra.init.report import InitResult
from ugc.settings import Settings


def init_all(settings: Settings) -> list[InitResult]:
    results = asyncio.run(init_topics(settings))
    results += init_subjects(settings)
    results += init_clickhouse(settings)
    results += asyncio.run(init_mongo(settings))
    return results
