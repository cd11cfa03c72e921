"""Avro in the Confluent wire format (magic byte, 4-byte schema id, body) via the registry.

The writer side never registers schemas: it looks up the id under which the local `.avsc` is
registered (`ugc init` / `ugc schemas register` put it there), so an unreviewed schema change
fails loudly instead of silently becoming a new version.
"""

import asyncio
import io
import struct
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import fastavro
import httpx
from schema_registry.client import AsyncSchemaRegistryClient
from schema_registry.client.errors import ClientError
from schema_registry.client.schema import AvroSchema
from schema_registry.serializers import AsyncAvroMessageSerializer

from schemas.catalog import LocalSchema, local_schemas
from ugc.errors import DependencyUnavailable
from ugc.events import Family
from ugc.settings import Settings

REGISTRY = "schema registry"
MAGIC_BYTE = 0


class SchemaNotRegistered(RuntimeError):
    pass


def registry_client(settings: Settings) -> AsyncSchemaRegistryClient:
    return AsyncSchemaRegistryClient(
        url=settings.schema_registry_url, timeout=httpx.Timeout(settings.registry_timeout_s)
    )


class EventEncoder:
    """Encodes records of each family with the registered id of its local schema."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client = registry_client(settings)
        self._schemas: dict[Family, LocalSchema] = {s.family: s for s in local_schemas(settings)}
        self._ids: dict[Family, int] = {}
        self._encoders: dict[Family, Callable[[dict[str, Any]], bytes]] = {}
        self._lock = asyncio.Lock()

    async def schema_id(self, family: Family) -> int:
        schema_id = self._ids.get(family)
        if schema_id is None:
            async with self._lock:
                schema_id = self._ids.get(family) or await self._resolve(family)
        return schema_id

    async def _resolve(self, family: Family) -> int:
        local = self._schemas[family]
        try:
            async with asyncio.timeout(self._settings.registry_timeout_s):
                found = await self._client.check_version(local.subject, local.schema)
        except (httpx.HTTPError, ClientError, TimeoutError) as exc:
            raise DependencyUnavailable(REGISTRY, f"{type(exc).__name__}: {exc}") from exc
        if found is None:
            raise SchemaNotRegistered(f"{local.path.name} is not registered as {local.subject}")
        self._ids[family] = found.schema_id
        return found.schema_id

    async def ping(self) -> None:
        """Raise DependencyUnavailable unless the registry answers now."""
        try:
            async with asyncio.timeout(self._settings.registry_timeout_s):
                await self._client.get_compatibility()
        except (httpx.HTTPError, ClientError, TimeoutError) as exc:
            raise DependencyUnavailable(REGISTRY, f"{type(exc).__name__}: {exc}") from exc

    async def resolve_all(self) -> None:
        for family in Family:
            await self.schema_id(family)

    async def encode(self, family: Family, record: dict[str, Any]) -> bytes:
        return (await self.encoder_of(family))(record)

    async def encoder_of(self, family: Family) -> Callable[[dict[str, Any]], bytes]:
        """A function that encodes a record of `family`: resolved once, then no registry and
        no awaiting per record (a batch encodes hundreds)."""
        encoder = self._encoders.get(family)
        if encoder is None:
            schema_id = await self.schema_id(family)
            # The local schema is the registered one (check_version matched it): the writer.
            encoder = partial(
                _encode,
                struct.pack(">bI", MAGIC_BYTE, schema_id),
                self._schemas[family].schema.schema,
            )
            self._encoders[family] = encoder
        return encoder


def _encode(header: bytes, schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO(header)
    buffer.seek(len(header))
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


class EventDecoder:
    """Decodes wire-format records of one family into dicts shaped by the local (reader) schema."""

    def __init__(self, settings: Settings, family: Family) -> None:
        local = next(s for s in local_schemas(settings) if s.family == family)
        # The serializer hands reader_schema straight to fastavro, which wants the parsed dict.
        reader = cast(AvroSchema, local.schema.schema)
        self._serializer = AsyncAvroMessageSerializer(
            registry_client(settings), reader_schema=reader
        )

    async def decode(self, message: bytes) -> dict[str, Any]:
        record = await self._serializer.decode_message(message)
        if record is None:
            raise ValueError("empty message")
        return record
