"""Schema tooling for data engineers: compare the local `.avsc` files with the registry.

Everything goes through the registry's Confluent-compatible API with python-schema-registry-client,
except one Apicurio-specific call: Apicurio 3.3's ccompat compatibility endpoint answers a bare
`{"is_compatible": false}` even with verbose=true, so the reasons come from a dry-run registration
on Apicurio's own v3 API (nothing is stored).
"""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from fastavro.schema import SchemaParseException
from schema_registry.client import SchemaRegistryClient
from schema_registry.client.errors import ClientError
from schema_registry.client.schema import AvroSchema
from schema_registry.client.utils import VALID_LEVELS

from schemas.catalog import LocalSchema, load_schema, local_schemas
from ugc.events import SCHEMAS_DIR, Family, schema_file
from ugc.settings import Settings

# Subjects created through the ccompat API live in Apicurio's default group.
APICURIO_GROUP = "default"
LOAD_ERRORS = (OSError, ValueError, SchemaParseException)
_JAVA_EXCEPTION_PREFIX = re.compile(r"^[\w.$]+(Exception|Error): ")


class ToolingError(RuntimeError):
    """A failure the CLI reports in one line (no traceback)."""


class LocalSchemaError(ToolingError):
    pass


class SubjectNotFound(ToolingError):
    pass


class RegistryUnavailable(ToolingError):
    """The registry could not be reached or answered nonsense: nothing can be said about schemas."""


class IncompatibleSchema(ToolingError):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons) or "incompatible")
        self.reasons = reasons


@dataclass(frozen=True)
class RegisteredSchema:
    subject: str
    version: int
    schema_id: int
    schema: dict[str, Any]


@dataclass(frozen=True)
class Compatibility:
    compatible: bool
    reasons: list[str]


class Registry:
    """The registry as the tooling needs it: versions, schemas, compatibility, registration."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.schema_registry_url
        self._root = settings.registry_base_url
        try:
            self._client = SchemaRegistryClient(
                url=self.url, timeout=httpx.Timeout(settings.registry_timeout_s)
            )
        except AssertionError as exc:  # the client asserts an http(s) URL
            raise RegistryUnavailable(f"invalid schema registry URL {self.url!r}") from exc

    @contextmanager
    def _talking(self, what: str) -> Iterator[None]:
        """Turn transport and protocol failures into one-line errors naming the URL."""
        try:
            yield
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise RegistryUnavailable(
                f"schema registry unreachable at {self.url} ({type(exc).__name__}: {exc})"
            ) from exc
        except ClientError as exc:
            raise RegistryUnavailable(
                f"schema registry at {self.url} failed to {what}: "
                f"HTTP {exc.http_code} {_server_message(exc)}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise RegistryUnavailable(
                f"{self.url} did not answer {what} with JSON; is it the ccompat API?"
            ) from exc

    def versions(self, subject: str) -> list[int]:
        with self._talking(f"list the versions of {subject}"):
            return sorted(self._client.get_versions(subject))

    def fetch(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        """One version of a subject known to exist (the client says None for any failure)."""
        with self._talking(f"fetch {subject} version {version}"):
            found = self._client.get_schema(subject, version)
        if found is None:
            raise RegistryUnavailable(
                f"schema registry at {self.url} did not return {subject} version {version}"
            )
        return RegisteredSchema(subject, found.version, found.schema_id, found.schema.raw_schema)

    def latest(self, subject: str) -> RegisteredSchema | None:
        return self.fetch(subject) if self.versions(subject) else None

    def level(self, subject: str) -> str:
        """The subject's compatibility level, else the global one."""
        with self._talking(f"read the compatibility of {subject}"):
            try:
                return self._client.get_compatibility(subject)
            except ClientError as exc:
                if exc.http_code != httpx.codes.NOT_FOUND:
                    raise
            return self._client.get_compatibility()

    def test(self, subject: str, schema: AvroSchema) -> Compatibility:
        """Is `schema` compatible with the latest version of `subject`? Nothing is registered."""
        with self._talking(f"test compatibility for {subject}"):
            try:
                answer = self._client.test_compatibility(subject, schema, verbose=True)
            except ClientError as exc:
                if exc.http_code != httpx.codes.UNPROCESSABLE_ENTITY:
                    raise
                return Compatibility(False, [f"invalid schema: {_server_message(exc)}"])
        if not isinstance(answer, dict):  # the client says False for 404
            return Compatibility(bool(answer), [])
        if answer.get("is_compatible"):
            return Compatibility(True, [])
        return Compatibility(
            False, _verbose_messages(answer) or self._dry_run_reasons(subject, schema)
        )

    def _dry_run_reasons(self, subject: str, schema: AvroSchema) -> list[str]:
        """Apicurio's rule violations for `schema`, without storing it; [] on other registries."""
        url = f"{self._root}/apis/registry/v3/groups/{APICURIO_GROUP}/artifacts/{subject}/versions"
        body = {
            "content": {"content": json.dumps(schema.raw_schema), "contentType": "application/json"}
        }
        with self._talking(f"explain the incompatibility of {subject}"):
            response = self._client.request(
                url,
                method="POST",
                body=body,
                params={"dryRun": "true"},
                headers={"Content-Type": "application/json"},
            )
        if response.status_code < httpx.codes.BAD_REQUEST:
            return []
        try:
            problem = response.json()
        except ValueError:
            return []
        if not isinstance(problem, dict):
            return []
        causes = problem.get("causes") or []
        reasons = [f"{c.get('description')} at {c.get('context')}" for c in causes]
        if not reasons and problem.get("detail"):
            reasons = [str(problem["detail"])]
        return reasons

    def register(self, subject: str, schema: AvroSchema) -> int:
        """Register `schema` under `subject` (or find it there); IncompatibleSchema when refused."""
        with self._talking(f"register {subject}"):
            try:
                return self._client.register(subject, schema)
            except ClientError as exc:
                if exc.http_code != httpx.codes.CONFLICT:
                    raise
                refusal = exc
        raise IncompatibleSchema([_server_message(refusal)])

    def version_of(self, subject: str, schema: AvroSchema) -> int | None:
        with self._talking(f"look up {subject}"):
            found = self._client.check_version(subject, schema)
        return int(found.version) if found else None

    def pin(self, subject: str, level: str) -> None:
        with self._talking(f"set the compatibility of {subject}"):
            self._client.update_compatibility(level, subject)


def _server_message(exc: ClientError) -> str:
    body = exc.server_traceback
    message = body.get("message", body) if isinstance(body, dict) else body or exc.message
    return _JAVA_EXCEPTION_PREFIX.sub("", str(message))


def _verbose_messages(answer: dict[str, Any]) -> list[str]:
    """Confluent puts the reasons in `messages`, Apicurio 2.x in `reason`; 3.3 in neither."""
    messages = answer.get("messages") or []
    reason = answer.get("reason")
    return [str(m) for m in messages] + ([str(reason)] if reason else [])


# --- local schemas ---


def load_local(settings: Settings, directory: Path | None = None) -> list[LocalSchema]:
    try:
        return local_schemas(settings, directory)
    except LOAD_ERRORS as exc:
        raise LocalSchemaError(
            f"cannot load {_broken_file(directory or SCHEMAS_DIR, exc)}"
        ) from exc


def _broken_file(directory: Path, error: Exception) -> str:
    """Name the file that fails (a JSON syntax error does not say which file it was)."""
    for family in Family:
        path = directory / schema_file(family).name
        try:
            load_schema(path)
        except LOAD_ERRORS as exc:
            return f"{path}: {exc}"
    return f"the schemas in {directory}: {error}"


def same_schema(local: LocalSchema, registered: RegisteredSchema | None) -> bool:
    # Compared as parsed JSON: whitespace and key order do not matter, docs and defaults do.
    return registered is not None and registered.schema == local.schema.raw_schema


# --- field-level differences ---


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    RENAMED = "renamed"
    TYPE = "type changed"
    DEFAULT = "default changed"
    DOC = "doc changed"
    RECORD = "record changed"


@dataclass(frozen=True)
class FieldChange:
    kind: ChangeKind
    field: str
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.field}" + (f" ({self.detail})" if self.detail else "")


_NO_DEFAULT = object()


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """What changed from the registered record schema `old` to the local `new`, field by field."""
    changes = _record_changes(old, new)
    before = {f["name"]: f for f in old.get("fields", [])}
    after = {f["name"]: f for f in new.get("fields", [])}
    renamed = _renames(before, after)
    for name, spec in after.items():
        old_name = renamed.get(name, name)
        if old_name in before:
            changes += _changed_field(before[old_name], spec)
        else:
            changes.append(_added_field(spec))
    kept = set(after) | set(renamed.values())
    changes += [_removed_field(spec) for name, spec in before.items() if name not in kept]
    return changes


def _record_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    old_name, new_name = _full_name(old), _full_name(new)
    changes = []
    if old_name != new_name:
        changes.append(FieldChange(ChangeKind.RECORD, "name", f"{old_name} -> {new_name}"))
    if old.get("doc") != new.get("doc"):
        changes.append(FieldChange(ChangeKind.DOC, "(the record)", ""))
    return changes


def _full_name(record: dict[str, Any]) -> str:
    return ".".join(part for part in (record.get("namespace"), record.get("name")) if part)


def _renames(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """New field name -> old field name, for new fields whose aliases name a vanished field."""
    renames = {}
    for name, spec in after.items():
        if name in before:
            continue
        old = [a for a in spec.get("aliases", []) if a in before and a not in after]
        if old:
            renames[name] = old[0]
    return renames


def _added_field(spec: dict[str, Any]) -> FieldChange:
    default = spec.get("default", _NO_DEFAULT)
    detail = (
        f"{type_label(spec['type'])}, default {json.dumps(default)}"
        if default is not _NO_DEFAULT
        else f"{type_label(spec['type'])}, NO default: cannot read records written before"
    )
    return FieldChange(ChangeKind.ADDED, spec["name"], detail)


def _removed_field(spec: dict[str, Any]) -> FieldChange:
    default = spec.get("default", _NO_DEFAULT)
    detail = (
        f"{type_label(spec['type'])}, had default {json.dumps(default)}"
        if default is not _NO_DEFAULT
        else f"{type_label(spec['type'])}, had NO default: consumers still on the old schema "
        "cannot read new records"
    )
    return FieldChange(ChangeKind.REMOVED, spec["name"], detail)


def _changed_field(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    name = new["name"]
    changes = []
    if old["name"] != name:
        changes.append(FieldChange(ChangeKind.RENAMED, name, f"from {old['name']}, via aliases"))
    if _without_docs(old["type"]) != _without_docs(new["type"]):
        changes.append(FieldChange(ChangeKind.TYPE, name, _type_change(old["type"], new["type"])))
    old_default, new_default = old.get("default", _NO_DEFAULT), new.get("default", _NO_DEFAULT)
    if old_default != new_default:
        detail = f"{_show_default(old_default)} -> {_show_default(new_default)}"
        changes.append(FieldChange(ChangeKind.DEFAULT, name, detail))
    if old.get("doc") != new.get("doc"):
        changes.append(FieldChange(ChangeKind.DOC, name, ""))
    return changes


def _show_default(default: object) -> str:
    return "none" if default is _NO_DEFAULT else json.dumps(default)


def _without_docs(avro_type: Any) -> Any:
    """The type without `doc` keys, so a reworded enum doc is not a type change."""
    if isinstance(avro_type, list):
        return [_without_docs(t) for t in avro_type]
    if isinstance(avro_type, dict):
        return {k: _without_docs(v) for k, v in avro_type.items() if k != "doc"}
    return avro_type


def _type_change(old: Any, new: Any) -> str:
    old_label, new_label = type_label(old), type_label(new)
    if old_label != new_label:
        return f"{old_label} -> {new_label}"
    if _is_enum(old) and _is_enum(new):
        return f"{new_label}: {_enum_change(old, new)}"
    return f"{new_label}: definition changed"


def _is_enum(avro_type: Any) -> bool:
    return isinstance(avro_type, dict) and avro_type.get("type") == "enum"


def _enum_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    added = [s for s in new["symbols"] if s not in old["symbols"]]
    removed = [s for s in old["symbols"] if s not in new["symbols"]]
    parts = [f"+{s}" for s in added] + [f"-{s}" for s in removed]
    if old.get("default") != new.get("default"):
        parts.append(f"default {old.get('default')} -> {new.get('default')}")
    return " ".join(parts) or "symbols reordered"


def type_label(avro_type: Any) -> str:
    """A short human form of an Avro type: `null | string:uuid`, `enum PlaybackAction`."""
    if isinstance(avro_type, list):
        return " | ".join(type_label(t) for t in avro_type)
    if isinstance(avro_type, str):
        return avro_type
    kind = avro_type.get("type")
    if "logicalType" in avro_type:
        return f"{type_label(kind)}:{avro_type['logicalType']}"
    if kind in ("enum", "record", "fixed"):
        return f"{kind} {avro_type.get('name')}"
    if kind == "array":
        return f"array<{type_label(avro_type.get('items'))}>"
    if kind == "map":
        return f"map<{type_label(avro_type.get('values'))}>"
    return type_label(kind)


# --- the commands' work, one result per local schema ---


@dataclass(frozen=True)
class Listing:
    local: LocalSchema
    versions: list[int]
    latest: RegisteredSchema | None
    matching_version: int | None = None  # the version the registry deems equal to the file

    @property
    def same_as_latest(self) -> bool:
        return same_schema(self.local, self.latest)


class CheckStatus(StrEnum):
    UNCHANGED = "unchanged"
    EQUIVALENT = "unchanged for the registry"
    COMPATIBLE = "compatible change"
    NEW = "new subject"
    INCOMPATIBLE = "INCOMPATIBLE"


@dataclass(frozen=True)
class CheckResult:
    local: LocalSchema
    status: CheckStatus
    latest: RegisteredSchema | None = None
    level: str = ""
    reasons: list[str] = field(default_factory=list)
    changes: list[FieldChange] = field(default_factory=list)


class RegisterStatus(StrEnum):
    UNCHANGED = "unchanged"
    EQUIVALENT = "unchanged for the registry"
    REGISTERED = "registered"
    OLDER = "matches an older version"
    REFUSED = "REFUSED"


@dataclass(frozen=True)
class RegisterResult:
    local: LocalSchema
    status: RegisterStatus
    level: str
    version: int | None = None
    schema_id: int | None = None
    latest_version: int | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SchemaDiff:
    local: LocalSchema
    latest: RegisteredSchema | None
    changes: list[FieldChange]


def list_schemas(registry: Registry, schemas: list[LocalSchema]) -> list[Listing]:
    listings = []
    for local in schemas:
        versions = registry.versions(local.subject)
        latest = registry.fetch(local.subject) if versions else None
        matching = None
        if latest is not None:
            matching = latest.version if same_schema(local, latest) else _match(registry, local)
        listings.append(Listing(local, versions, latest, matching))
    return listings


def show_schema(registry: Registry, subject: str, version: int | None = None) -> RegisteredSchema:
    versions = registry.versions(subject)
    if not versions:
        raise SubjectNotFound(f"subject {subject} is not registered at {registry.url}")
    if version is not None and version not in versions:
        known = ", ".join(map(str, versions))
        raise SubjectNotFound(f"subject {subject} has no version {version} (versions: {known})")
    return registry.fetch(subject, "latest" if version is None else version)


def check_schemas(registry: Registry, schemas: list[LocalSchema]) -> list[CheckResult]:
    return [check_schema(registry, local) for local in schemas]


def check_schema(registry: Registry, local: LocalSchema) -> CheckResult:
    latest = registry.latest(local.subject)
    if latest is None:
        return CheckResult(local, CheckStatus.NEW)
    if same_schema(local, latest):
        return CheckResult(local, CheckStatus.UNCHANGED, latest)
    changes = field_changes(latest.schema, local.schema.raw_schema)
    if _match(registry, local) == latest.version:
        return CheckResult(local, CheckStatus.EQUIVALENT, latest, changes=changes)
    level = registry.level(local.subject)
    verdict = registry.test(local.subject, local.schema)
    status = CheckStatus.COMPATIBLE if verdict.compatible else CheckStatus.INCOMPATIBLE
    return CheckResult(local, status, latest, level, verdict.reasons, changes)


def _match(registry: Registry, local: LocalSchema) -> int | None:
    """The version the registry deems equal to the file: Apicurio ignores docs and aliases."""
    return registry.version_of(local.subject, local.schema)


def register_schemas(
    registry: Registry, schemas: list[LocalSchema], level: str
) -> list[RegisterResult]:
    if level not in VALID_LEVELS:
        raise ToolingError(f"compatibility {level!r} is not one of {', '.join(VALID_LEVELS)}")
    return [register_schema(registry, local, level) for local in schemas]


def register_schema(registry: Registry, local: LocalSchema, level: str) -> RegisterResult:
    latest = registry.latest(local.subject)
    if latest is not None:
        # Pin first, so the registry judges the new version at the project's level.
        registry.pin(local.subject, level)
        if same_schema(local, latest):
            return RegisterResult(
                local, RegisterStatus.UNCHANGED, level, latest.version, latest.schema_id
            )
    try:
        schema_id = registry.register(local.subject, local.schema)
    except IncompatibleSchema as refusal:
        return RegisterResult(
            local,
            RegisterStatus.REFUSED,
            level,
            latest_version=latest.version if latest else None,
            reasons=refusal.reasons,
        )
    if latest is None:
        registry.pin(local.subject, level)  # Apicurio has no config for a subject before it exists
    version = _match(registry, local)
    latest_version = latest.version if latest else None
    status = _registration_status(version, latest_version)
    return RegisterResult(local, status, level, version, schema_id, latest_version)


def _registration_status(version: int | None, latest_version: int | None) -> RegisterStatus:
    """A schema the registry deems already registered adds no version: it returns the old id."""
    if version is None or latest_version is None or version > latest_version:
        return RegisterStatus.REGISTERED
    return RegisterStatus.EQUIVALENT if version == latest_version else RegisterStatus.OLDER


def diff_schemas(registry: Registry, schemas: list[LocalSchema]) -> list[SchemaDiff]:
    diffs = []
    for local in schemas:
        latest = registry.latest(local.subject)
        changes = field_changes(latest.schema, local.schema.raw_schema) if latest else []
        diffs.append(SchemaDiff(local, latest, changes))
    return diffs
