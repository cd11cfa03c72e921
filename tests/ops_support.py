"""Running the operators' commands (`ugc dlq ...`, `ugc lag`) from async tests, and producing
raw records: the commands run their own event loop, so they run in a thread."""

import asyncio
import re
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner, Result

from streams.base import PROJECTIONS_GROUP, RAW_EVENTS_GROUP
from ugc.settings import Settings
from ugc_cli.main import app

WORKER_GROUPS = (PROJECTIONS_GROUP, RAW_EVENTS_GROUP)


async def ugc(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def lag_totals(*args: str) -> tuple[int, dict[str, int]]:
    """`ugc lag` of the two worker groups: its exit code and each group's total."""
    groups = [arg for group in WORKER_GROUPS for arg in ("--group", group)]
    result = await ugc("lag", *groups, *args)
    assert result.exit_code in (0, 1), result.output
    totals = {
        match[1]: int(match[2])
        for match in re.finditer(r"^(\S+)\s+total\s+(\d+)$", result.stdout, re.MULTILINE)
    }
    return result.exit_code, totals


async def produce(settings: Settings, records: Sequence[tuple[str, bytes, bytes]]) -> None:
    """(topic, key, value) records, acknowledged by Kafka."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
