"""Register and fetch schemas on the real Apicurio Registry through its Confluent-compatible API."""

import uuid

import httpx
from schema_registry.client import SchemaRegistryClient
from schema_registry.client.schema import AvroSchema

from schemas.catalog import local_schemas


def _record(name: str, *fields: dict) -> AvroSchema:
    return AvroSchema({"type": "record", "name": name, "namespace": "test", "fields": list(fields)})


def test_register_then_fetch_by_id(stack, settings):
    client = SchemaRegistryClient(url=settings.schema_registry_url)
    subject = f"test-{uuid.uuid4().hex[:8]}-value"
    schema = _record("Probe", {"name": "id", "type": "string"}, {"name": "n", "type": "int"})

    schema_id = client.register(subject, schema)

    fetched = client.get_by_id(schema_id)
    assert fetched is not None
    assert fetched.raw_schema == schema.raw_schema
    latest = client.get_schema(subject)
    assert latest is not None and latest.schema_id == schema_id


def test_global_compatibility_is_backward(stack, settings):
    response = httpx.get(f"{settings.schema_registry_url}/config")
    assert response.json()["compatibilityLevel"] == "BACKWARD"


def test_incompatible_change_is_refused(stack, settings):
    client = SchemaRegistryClient(url=settings.schema_registry_url)
    subject = f"test-{uuid.uuid4().hex[:8]}-value"
    client.register(subject, _record("Probe", {"name": "id", "type": "string"}))
    # A new required field without a default cannot read old records: not BACKWARD compatible.
    breaking = _record("Probe", {"name": "id", "type": "string"}, {"name": "n", "type": "int"})
    assert client.test_compatibility(subject, breaking) is False


def test_initer_registered_every_local_schema(stack, settings):
    client = SchemaRegistryClient(url=settings.schema_registry_url)
    for local in local_schemas(settings):
        assert client.check_version(local.subject, local.schema) is not None, local.subject
