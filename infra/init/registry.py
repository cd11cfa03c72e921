"""Register the value subjects that are missing and pin their compatibility level."""

import httpx
from schema_registry.client import SchemaRegistryClient
from schema_registry.client.errors import ClientError

from infra.init.report import InitResult, Outcome
from schemas.catalog import local_schemas
from schemas.erasure import erasure_schema
from ugc.erasure import SUBJECT as ERASURE_SUBJECT
from ugc.settings import Settings


def init_subjects(settings: Settings) -> list[InitResult]:
    client = SchemaRegistryClient(url=settings.schema_registry_url, timeout=httpx.Timeout(10.0))
    results = []
    subjects = [(local.subject, local.schema) for local in local_schemas(settings)]
    subjects.append((ERASURE_SUBJECT, erasure_schema()))  # the erasure markers' record name
    for subject, schema in subjects:
        registered = client.get_schema(subject)
        if registered is None:
            schema_id = client.register(subject, schema)
            results.append(
                InitResult("registry", "subject", subject, Outcome.CREATED, f"id {schema_id}")
            )
        elif client.check_version(subject, schema) is None:
            results.append(
                InitResult(
                    "registry",
                    "subject",
                    subject,
                    Outcome.DIFFERS,
                    f"registry has v{registered.version}; see `ugc schemas check`",
                )
            )
        else:
            results.append(
                InitResult(
                    "registry",
                    "subject",
                    subject,
                    Outcome.EXISTED,
                    f"id {registered.schema_id}",
                )
            )
        results.append(_pin_compatibility(client, subject, settings.schema_compatibility))
    return results


def _pin_compatibility(client: SchemaRegistryClient, subject: str, level: str) -> InitResult:
    try:
        current: str | None = client.get_compatibility(subject)
    except ClientError:  # no level of its own yet
        current = None
    if current == level:
        return InitResult("registry", "compat", subject, Outcome.EXISTED, level)
    client.update_compatibility(level, subject)
    return InitResult("registry", "compat", subject, Outcome.CREATED, f"{current} -> {level}")
