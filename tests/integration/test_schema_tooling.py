"""`ugc schemas ...` against the real registry.

Each test owns a fresh topic prefix, hence its own four subjects, deleted afterwards; candidate
schema changes are edited in a temporary copy of `schemas/` passed with --schemas-dir.
"""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import fastavro
import httpx
import pytest
from typer.testing import CliRunner, Result

from schemas.tooling import ChangeKind, field_changes
from ugc.events import SCHEMAS_DIR, Family, topic_name, value_subject
from ugc.settings import Settings
from ugc_cli.schemas import schemas_app

NEW_FIELD = {
    "name": "device_kind",
    "type": "string",
    "default": "unknown",
    "doc": "tv, mobile, web; unknown for records written before the field existed.",
}


@pytest.fixture
def own(stack, settings: Settings) -> Iterator[Settings]:
    """Settings with a topic prefix of this test's own; its subjects are deleted afterwards."""
    mine = settings.model_copy(update={"kafka_topic_prefix": f"test{uuid4().hex[:8]}"})
    yield mine
    for family in Family:
        url = f"{mine.schema_registry_url}/subjects/{_subject(mine, family)}"
        httpx.delete(url)  # Apicurio deletes softly first, then for good
        httpx.delete(url, params={"permanent": "true"})


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    """A copy of schemas/ where a test edits a schema before checking it."""
    folder = tmp_path / "schemas"
    folder.mkdir()
    for family in Family:
        shutil.copy(SCHEMAS_DIR / f"{family}.avsc", folder)
    return folder


def _subject(settings: Settings, family: Family) -> str:
    return value_subject(topic_name(settings, family))


def _ugc_schemas(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(schemas_app, list(args), obj=settings)


def _read(folder: Path, family: Family) -> dict[str, Any]:
    return json.loads((folder / f"{family}.avsc").read_text())


def _edit(folder: Path, family: Family, change: Callable[[list[dict[str, Any]]], None]) -> None:
    schema = _read(folder, family)
    change(schema["fields"])
    (folder / f"{family}.avsc").write_text(json.dumps(schema, indent=2))


def _remove(name: str) -> Callable[[list[dict[str, Any]]], None]:
    def remove(fields: list[dict[str, Any]]) -> None:
        fields[:] = [f for f in fields if f["name"] != name]

    return remove


def _retype(name: str, avro_type: str) -> Callable[[list[dict[str, Any]]], None]:
    def retype(fields: list[dict[str, Any]]) -> None:
        next(f for f in fields if f["name"] == name)["type"] = avro_type

    return retype


def _registered(settings: Settings) -> None:
    result = _ugc_schemas(settings, "register")
    assert result.exit_code == 0, result.output
    assert result.output.count("registered v1") == len(Family), result.output


def _versions(settings: Settings, family: Family) -> list[int]:
    url = f"{settings.schema_registry_url}/subjects/{_subject(settings, family)}/versions"
    return httpx.get(url).json()


def _latest(settings: Settings, family: Family) -> dict[str, Any]:
    url = f"{settings.schema_registry_url}/subjects/{_subject(settings, family)}/versions/latest"
    return json.loads(httpx.get(url).json()["schema"])


def _line(output: str, subject: str) -> str:
    """The row of `subject`: it comes first, or second after the file name (`list`)."""
    return next(line for line in output.splitlines() if subject in line.split()[:2])


def _avro(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


def _read_avro(data: bytes, writer: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    parsed_writer, parsed_reader = fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    record = fastavro.schemaless_reader(io.BytesIO(data), parsed_writer, parsed_reader)
    assert isinstance(record, dict)
    return record


def _viewing_record() -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=123000)
    return {
        "event_id": uuid4(),
        "user_id": uuid4(),
        "movie_id": uuid4(),
        "client_ts": now,
        "server_ts": now,
        "watched_seconds": 1234,
        "session_id": uuid4(),
    }


def test_fresh_prefix_is_not_registered_and_check_says_new(own):
    listed = _ugc_schemas(own, "list")
    checked = _ugc_schemas(own, "check")

    assert listed.exit_code == 0, listed.output
    assert listed.output.count("not registered") == len(Family)
    assert checked.exit_code == 0, checked.output
    assert checked.output.count("new subject") == len(Family)


def test_registered_schemas_check_unchanged(own):
    _registered(own)

    checked = _ugc_schemas(own, "check")
    again = _ugc_schemas(own, "register")
    listed = _ugc_schemas(own, "list")

    assert checked.exit_code == 0, checked.output
    for family in Family:
        assert "unchanged (v1)" in _line(checked.output, _subject(own, family))
        assert "versions 1; local = latest (v1" in _line(listed.output, _subject(own, family))
    assert "all compatible" in checked.output
    assert again.exit_code == 0, again.output
    assert again.output.count("unchanged v1") == len(Family)
    assert again.output.count(f"compatibility {own.schema_compatibility}") == len(Family)
    config = httpx.get(f"{own.schema_registry_url}/config/{_subject(own, Family.VIEWING)}")
    assert config.json()["compatibilityLevel"] == own.schema_compatibility


def test_added_field_with_default_is_compatible_both_ways(own, candidate):
    _registered(own)
    old = _read(SCHEMAS_DIR, Family.VIEWING)
    _edit(candidate, Family.VIEWING, lambda fields: fields.append(NEW_FIELD))
    viewing = _subject(own, Family.VIEWING)

    checked = _ugc_schemas(own, "check", "--schemas-dir", str(candidate))
    assert checked.exit_code == 0, checked.output
    level = own.schema_compatibility
    assert f"compatible change (against v1, {level})" in _line(checked.output, viewing)
    assert "unchanged (v1)" in _line(checked.output, _subject(own, Family.PLAYBACK))
    assert _versions(own, Family.VIEWING) == [1]  # check registers nothing

    registered = _ugc_schemas(own, "register", "--schemas-dir", str(candidate))
    assert registered.exit_code == 0, registered.output
    assert "registered v2" in _line(registered.output, viewing)
    assert _versions(own, Family.VIEWING) == [1, 2]
    new = _latest(own, Family.VIEWING)
    assert new == _read(candidate, Family.VIEWING)

    # Old consumers read new records: the new field is skipped, the others keep their values.
    record = {**_viewing_record(), "device_kind": "tv"}
    seen_by_old = _read_avro(_avro(new, record), writer=new, reader=old)
    assert seen_by_old == {k: v for k, v in record.items() if k != "device_kind"}
    # New consumers read old records: the new field takes its default.
    old_record = _viewing_record()
    seen_by_new = _read_avro(_avro(old, old_record), writer=old, reader=new)
    assert seen_by_new == {**old_record, "device_kind": "unknown"}


def test_removing_required_field_is_refused_under_full(own, candidate):
    # Dropping a field without a default breaks readers of the old schema (FORWARD), so it is
    # refused under FORWARD and FULL (the default); BACKWARD alone accepts it (next test).
    assert own.schema_compatibility == "FULL"
    full = own
    _registered(full)
    _edit(candidate, Family.VIEWING, _remove("watched_seconds"))
    viewing = _subject(full, Family.VIEWING)

    checked = _ugc_schemas(full, "check", "--schemas-dir", str(candidate))
    registered = _ugc_schemas(full, "register", "--schemas-dir", str(candidate))

    assert checked.exit_code == 1, checked.output
    assert "INCOMPATIBLE (against v1, FULL)" in _line(checked.output, viewing)
    assert f"1 incompatible: {viewing}" in checked.output
    assert "removed: watched_seconds (int, had NO default" in checked.output
    assert registered.exit_code == 1, registered.output
    assert "REFUSED by the registry" in _line(registered.output, viewing)
    assert "watched_seconds" in registered.output  # Apicurio's 409 names the field
    assert _versions(full, Family.VIEWING) == [1]
    assert _latest(full, Family.VIEWING) == _read(SCHEMAS_DIR, Family.VIEWING)


def test_removing_required_field_is_backward_compatible(own, candidate):
    # BACKWARD means new readers read old data: they just skip the field, so the registry agrees.
    backward = own.model_copy(update={"schema_compatibility": "BACKWARD"})
    _registered(backward)
    _edit(candidate, Family.VIEWING, _remove("watched_seconds"))

    checked = _ugc_schemas(backward, "check", "--schemas-dir", str(candidate))

    assert checked.exit_code == 0, checked.output
    assert "compatible change (against v1, BACKWARD)" in checked.output
    assert "removed: watched_seconds (int, had NO default" in checked.output


def test_type_change_is_incompatible(own, candidate):
    _registered(own)
    _edit(candidate, Family.VIEWING, _retype("watched_seconds", "string"))
    viewing = _subject(own, Family.VIEWING)

    checked = _ugc_schemas(own, "check", "--schemas-dir", str(candidate))
    registered = _ugc_schemas(own, "register", "--schemas-dir", str(candidate))

    assert checked.exit_code == 1, checked.output
    assert f"INCOMPATIBLE (against v1, {own.schema_compatibility})" in _line(
        checked.output, viewing
    )
    # The reason comes from the registry (Apicurio's dry run), not from our diff.
    why = [line for line in checked.output.splitlines() if "why:" in line]
    assert why and all("STRING" in w and "INT" in w for w in why), checked.output
    assert "type changed: watched_seconds (int -> string)" in checked.output
    assert _versions(own, Family.VIEWING) == [1]  # neither the check nor its dry run stored it
    assert registered.exit_code == 1, registered.output
    assert "REFUSED" in _line(registered.output, viewing)
    assert _versions(own, Family.VIEWING) == [1]


def test_diff_reports_added_and_removed_fields(own, candidate):
    _registered(own)

    def change(fields: list[dict[str, Any]]) -> None:
        _remove("watched_seconds")(fields)
        fields.append(NEW_FIELD)

    _edit(candidate, Family.VIEWING, change)

    diffed = _ugc_schemas(own, "diff", "--schemas-dir", str(candidate))

    assert diffed.exit_code == 0, diffed.output
    lines = [line.strip() for line in diffed.output.splitlines()]
    assert 'added: device_kind (string, default "unknown")' in lines
    removed = [line for line in lines if line.startswith("removed: watched_seconds (int, had NO")]
    assert len(removed) == 1, diffed.output
    assert len([line for line in lines if line.startswith(("added", "removed"))]) == 2
    assert "no differences from v1" in _line(diffed.output, _subject(own, Family.PLAYBACK))


def test_doc_change_is_no_new_version(own, candidate):
    # Apicurio compares schemas without docs and aliases: such a change cannot be registered.
    _registered(own)

    def reword(fields: list[dict[str, Any]]) -> None:
        next(f for f in fields if f["name"] == "watched_seconds")["doc"] = "Seconds on screen."

    _edit(candidate, Family.VIEWING, reword)
    viewing = _subject(own, Family.VIEWING)

    checked = _ugc_schemas(own, "check", "--schemas-dir", str(candidate))
    registered = _ugc_schemas(own, "register", "--schemas-dir", str(candidate))
    diffed = _ugc_schemas(own, "diff", "--schemas-dir", str(candidate))

    assert checked.exit_code == 0, checked.output
    assert "unchanged for the registry (v1" in _line(checked.output, viewing)
    assert registered.exit_code == 0, registered.output
    assert "unchanged for the registry: v1" in _line(registered.output, viewing)
    assert _versions(own, Family.VIEWING) == [1]
    assert "doc changed: watched_seconds" in diffed.output


def test_show_prints_registered_schema(own):
    _registered(own)
    viewing = _subject(own, Family.VIEWING)

    shown = _ugc_schemas(own, "show", viewing)
    missing_version = _ugc_schemas(own, "show", viewing, "--version", "2")
    unknown = _ugc_schemas(own, "show", f"{own.kafka_topic_prefix}.nothing-value")

    assert shown.exit_code == 0, shown.output
    heading, _, body = shown.stdout.partition("\n")
    assert heading.startswith(f"subject {viewing}  version 1  id ")
    assert json.loads(body) == _read(SCHEMAS_DIR, Family.VIEWING)
    assert missing_version.exit_code == 1
    assert "has no version 2 (versions: 1)" in missing_version.stderr
    assert unknown.exit_code == 1
    assert f"error: subject {own.kafka_topic_prefix}.nothing-value is not registered" in (
        unknown.stderr
    )


def test_unreadable_local_schema_names_the_file(own, candidate):
    (candidate / "ratings.avsc").write_text('{"type": "record",')

    checked = _ugc_schemas(own, "check", "--schemas-dir", str(candidate))

    assert checked.exit_code == 1
    assert f"error: cannot load {candidate / 'ratings.avsc'}:" in checked.stderr


def test_unreachable_registry_is_one_line_exit_2(own):
    with socket.socket() as probe:  # a port nothing listens on once the socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/apis/ccompat/v7"
    env = {**os.environ, "UGC_SCHEMA_REGISTRY_URL": url}

    done = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "ugc"), "schemas", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    refused = "ConnectError: [Errno 111] Connection refused"
    assert done.stderr.strip().splitlines() == [
        f"error: schema registry unreachable at {url} ({refused})"
    ]


def test_field_changes_follow_aliases_and_enum_symbols():
    old = _read(SCHEMAS_DIR, Family.PLAYBACK)
    new = json.loads(json.dumps(old))
    position = next(f for f in new["fields"] if f["name"] == "position_ms")
    position.update(name="offset_ms", aliases=["position_ms"])
    action = next(f for f in new["fields"] if f["name"] == "action")
    action["type"]["symbols"].insert(-1, "rewind")

    changes = {(c.kind, c.field): c.detail for c in field_changes(old, new)}

    assert changes == {
        (ChangeKind.RENAMED, "offset_ms"): "from position_ms, via aliases",
        (ChangeKind.TYPE, "action"): "enum PlaybackAction: +rewind",
    }
