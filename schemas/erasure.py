"""The erasure marker's Avro contract (`erasure.avsc`), in the Confluent wire format.

Registered by `ugc init` under its record name (ugc.erasure.SUBJECT), beside the event subjects.
As for events, the writer never registers: it looks up the id of the local schema.
"""

import asyncio
import io
import struct
from typing import Any, cast

import fastavro
import httpx
from schema_registry.client.errors import ClientError
from schema_registry.client.schema import AvroSchema
from schema_registry.serializers import AsyncAvroMessageSerializer

from schemas.catalog import load_schema
from schemas.codec import MAGIC_BYTE, REGISTRY, SchemaNotRegistered, registry_client
from ugc.erasure import SUBJECT
from ugc.errors import DependencyUnavailable
from ugc.events import SCHEMAS_DIR
from ugc.settings import Settings

SCHEMA_FILE = SCHEMAS_DIR / "erasure.avsc"


def erasure_schema() -> AvroSchema:
    return load_schema(SCHEMA_FILE)


class ErasureCodec:
    def __init__(self, settings: Settings) -> None:
        self._timeout_s = settings.registry_timeout_s
        self._client = registry_client(settings)
        self._schema = erasure_schema()
        reader = cast(AvroSchema, self._schema.schema)  # fastavro wants the parsed dict
        self._serializer = AsyncAvroMessageSerializer(self._client, reader_schema=reader)

    async def encode(self, record: dict[str, Any]) -> bytes:
        """Raises DependencyUnavailable (registry down) or SchemaNotRegistered."""
        try:
            async with asyncio.timeout(self._timeout_s):
                found = await self._client.check_version(SUBJECT, self._schema)
        except (httpx.HTTPError, ClientError, TimeoutError) as exc:
            raise DependencyUnavailable(REGISTRY, f"{type(exc).__name__}: {exc}") from exc
        if found is None:
            raise SchemaNotRegistered(f"{SCHEMA_FILE.name} is not registered as {SUBJECT}")
        buffer = io.BytesIO()
        buffer.write(struct.pack(">bI", MAGIC_BYTE, found.schema_id))
        fastavro.schemaless_writer(buffer, self._schema.schema, record)
        return buffer.getvalue()

    async def decode(self, value: bytes) -> dict[str, Any]:
        record = await self._serializer.decode_message(value)
        if record is None:
            raise ValueError("empty marker")
        return record
