"""`ugc schemas ...`: the local Avro contract against the schema registry, for data engineers.

Thin on purpose: each command calls schemas.tooling and prints the results. Exit codes: 0 fine,
1 a schema problem (incompatible, refused, unknown subject, unreadable file), 2 the registry is
unreachable or answers nonsense.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from schemas import tooling
from ugc.settings import Settings, get_settings

schemas_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Avro schemas: list, show, check, register, diff.",
)

SCHEMAS_DIR_OPTION = typer.Option(
    None,
    "--schemas-dir",
    help="Folder with playback.avsc, viewing.avsc, favourites.avsc, ratings.avsc "
    "(default: the project's schemas/).",
    file_okay=False,
)
INDENT = "    "


def _settings(ctx: typer.Context) -> Settings:
    """Settings passed by the caller (CliRunner.invoke(..., obj=settings)), else the UGC_* ones."""
    return ctx.obj if isinstance(ctx.obj, Settings) else get_settings()


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except tooling.ToolingError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2 if isinstance(exc, tooling.RegistryUnavailable) else 1) from exc


def _column(subjects: list[str]) -> int:
    return max((len(s) for s in subjects), default=0) + 2


@schemas_app.command("list")
def list_command(ctx: typer.Context, schemas_dir: Path | None = SCHEMAS_DIR_OPTION) -> None:
    """Each local schema file, its subject, its registered versions and whether it is the latest."""
    settings = _settings(ctx)
    with _one_line_errors():
        schemas = tooling.load_local(settings, schemas_dir)
        listings = tooling.list_schemas(tooling.Registry(settings), schemas)
    width = _column([item.local.subject for item in listings])
    for item in listings:
        typer.echo(f"{item.local.path.name:<17} {item.local.subject:<{width}}{_listing(item)}")


def _listing(item: tooling.Listing) -> str:
    if item.latest is None:
        return "not registered"
    versions = ", ".join(map(str, item.versions))
    latest = f"v{item.latest.version}, id {item.latest.schema_id}"
    if item.same_as_latest:
        state = "local = latest"
    elif item.matching_version == item.latest.version:
        state = "local = latest for the registry (docs or aliases differ)"
    elif item.matching_version is not None:
        state = f"local = v{item.matching_version}, NOT the latest"
    else:
        state = "local DIFFERS from latest"
    return f"versions {versions}; {state} ({latest})"


@schemas_app.command("show")
def show_command(
    ctx: typer.Context,
    subject: str = typer.Argument(..., help="e.g. ugc.viewing-value"),
    version: int | None = typer.Option(None, "--version", min=1, help="Default: the latest."),
) -> None:
    """A registered schema as pretty JSON, with its id and version."""
    settings = _settings(ctx)
    with _one_line_errors():
        found = tooling.show_schema(tooling.Registry(settings), subject, version)
    typer.echo(f"subject {found.subject}  version {found.version}  id {found.schema_id}")
    typer.echo(json.dumps(found.schema, indent=2, ensure_ascii=False))


@schemas_app.command("check")
def check_command(ctx: typer.Context, schemas_dir: Path | None = SCHEMAS_DIR_OPTION) -> None:
    """Test each local schema against its subject's latest version, without registering.

    Exits 1 if any is incompatible.
    """
    settings = _settings(ctx)
    with _one_line_errors():
        schemas = tooling.load_local(settings, schemas_dir)
        results = tooling.check_schemas(tooling.Registry(settings), schemas)
    width = _column([r.local.subject for r in results])
    for result in results:
        typer.echo(f"{result.local.subject:<{width}}{_verdict(result)}")
        for line in _explanation(result):
            typer.echo(f"{INDENT}{line}")
    bad = [r.local.subject for r in results if r.status is tooling.CheckStatus.INCOMPATIBLE]
    if bad:
        typer.echo(f"{len(bad)} incompatible: {', '.join(bad)}")
        raise typer.Exit(1)
    typer.echo("all compatible")


def _verdict(result: tooling.CheckResult) -> str:
    if result.latest is None:
        return f"{result.status} ({result.local.path.name} would be version 1)"
    if result.status is tooling.CheckStatus.UNCHANGED:
        return f"{result.status} (v{result.latest.version})"
    if result.status is tooling.CheckStatus.EQUIVALENT:
        return f"{result.status} (v{result.latest.version}; it ignores docs and aliases)"
    return f"{result.status} (against v{result.latest.version}, {result.level})"


def _explanation(result: tooling.CheckResult) -> list[str]:
    lines = []
    if result.status is tooling.CheckStatus.INCOMPATIBLE:
        lines += [f"why: {reason}" for reason in result.reasons or ["the registry gave no reason"]]
    return lines + [f"change: {change.line()}" for change in result.changes]


@schemas_app.command("register")
def register_command(ctx: typer.Context, schemas_dir: Path | None = SCHEMAS_DIR_OPTION) -> None:
    """Register the local schemas that differ from the latest version; pin each subject's level.

    The registry refuses incompatible ones; exits 1 if it refused any.
    """
    settings = _settings(ctx)
    with _one_line_errors():
        schemas = tooling.load_local(settings, schemas_dir)
        registry = tooling.Registry(settings)
        results = tooling.register_schemas(registry, schemas, settings.schema_compatibility)
    width = _column([r.local.subject for r in results])
    for result in results:
        typer.echo(f"{result.local.subject:<{width}}{_registration(result)}")
        for reason in result.reasons:
            typer.echo(f"{INDENT}why: {reason}")
    refused = [r.local.subject for r in results if r.status is tooling.RegisterStatus.REFUSED]
    if refused:
        typer.echo(f"{len(refused)} refused: {', '.join(refused)}")
        raise typer.Exit(1)


def _registration(result: tooling.RegisterResult) -> str:
    level = f"compatibility {result.level}"
    status = tooling.RegisterStatus
    if result.status is status.REFUSED:
        return f"REFUSED by the registry: incompatible with v{result.latest_version} ({level})"
    if result.status is status.EQUIVALENT:
        return (
            f"{result.status}: v{result.version} (id {result.schema_id}) differs only in docs or "
            f"aliases, nothing registered; {level}"
        )
    if result.status is status.OLDER:
        return (
            f"already registered as v{result.version} (id {result.schema_id}), "
            f"latest stays v{result.latest_version}; {level}"
        )
    return f"{result.status} v{result.version} (id {result.schema_id}); {level}"


@schemas_app.command("diff")
def diff_command(ctx: typer.Context, schemas_dir: Path | None = SCHEMAS_DIR_OPTION) -> None:
    """Field-level differences between each local schema and its subject's latest version."""
    settings = _settings(ctx)
    with _one_line_errors():
        schemas = tooling.load_local(settings, schemas_dir)
        diffs = tooling.diff_schemas(tooling.Registry(settings), schemas)
    width = _column([d.local.subject for d in diffs])
    for diff in diffs:
        typer.echo(f"{diff.local.subject:<{width}}{_diff_heading(diff)}")
        for change in diff.changes:
            typer.echo(f"{INDENT}{change.line()}")


def _diff_heading(diff: tooling.SchemaDiff) -> str:
    if diff.latest is None:
        return f"not registered ({diff.local.path.name} would be version 1)"
    if not diff.changes:
        return f"no differences from v{diff.latest.version}"
    return f"{diff.local.path.name} against v{diff.latest.version}:"
