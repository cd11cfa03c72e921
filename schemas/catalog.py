"""The local Avro contract: one `.avsc` file per event family, registered as `<topic>-value`."""

import json
from dataclasses import dataclass
from pathlib import Path

from schema_registry.client.schema import AvroSchema

from ugc.events import Family, schema_file, topic_name, value_subject
from ugc.settings import Settings


@dataclass(frozen=True)
class LocalSchema:
    family: Family
    subject: str
    path: Path
    schema: AvroSchema


def load_schema(path: Path) -> AvroSchema:
    return AvroSchema(json.loads(path.read_text()))


def local_schemas(settings: Settings, directory: Path | None = None) -> list[LocalSchema]:
    """One schema per family, from `schemas/` or from `directory` (a candidate copy to check)."""
    paths = {
        family: (directory / schema_file(family).name) if directory else schema_file(family)
        for family in Family
    }
    return [
        LocalSchema(
            family=family,
            subject=value_subject(topic_name(settings, family)),
            path=path,
            schema=load_schema(path),
        )
        for family, path in paths.items()
    ]
