"""`ugc dlq ...` and `ugc lag`: dead letters and consumer lag, for operators.

Thin: each command opens the Kafka gateway, calls a service of `infra.ops` and prints.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import typer

from ugc.settings import Settings, get_settings

if TYPE_CHECKING:  # the services import Kafka clients and Faust: loaded when a command runs
    from infra.ops.dead_letters import DeadLetters, Described
    from infra.ops.lag import GroupLag
    from infra.ops.parked import Parked

T = TypeVar("T")
EXIT_UNMEASURED = 2  # `ugc lag` could not ask Kafka (distinct from 1: over the threshold)

dlq_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Dead letters: list, show and replay parked messages.",
)
TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"]


def _with_dead_letters(work: "Callable[[DeadLetters], Awaitable[T]]") -> T:
    from infra.ops.dead_letters import DeadLetters
    from infra.ops.kafka import KafkaGateway

    settings = get_settings()

    async def run() -> T:
        async with KafkaGateway(settings) as kafka:
            return await work(DeadLetters(kafka, settings))

    try:
        return asyncio.run(run())
    except Exception as exc:  # Kafka unreachable, the topic missing...
        typer.secho(f"error: {type(exc).__name__}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc


@dlq_app.command("list")
def dlq_list(
    reason: str | None = typer.Option(None, help="Only this reason (ugc-dlq-reason)."),
    topic: str | None = typer.Option(None, help="Only messages from this source topic."),
    limit: int = typer.Option(50, min=0, help="The newest N (0: all)."),
) -> None:
    """One line per parked message: dead-letter offset, when, source, reason, detail."""
    parked, replayed = _with_dead_letters(lambda dlq: dlq.listing(reason, topic, limit))
    for p in parked:
        mark = " [replayed]" if p.ledger_key in replayed else ""
        typer.echo(
            f"{p.ledger_key}  {p.parked_at:%Y-%m-%dT%H:%M:%S}Z  "
            f"{p.source_topic}[{p.source_partition}]@{p.source_offset}  {p.reason}{mark}  "
            f"{p.detail[:160]}"
        )


@dlq_app.command("show")
def dlq_show(
    offset: str = typer.Argument(..., help="OFFSET in the dead-letter topic (or PARTITION:OFFSET)"),
) -> None:
    """A parked message: its headers and payload, decoded where it decodes, hex otherwise."""
    partition, _, number = offset.rpartition(":")
    try:
        where = (int(partition or 0), int(number))
    except ValueError as exc:
        raise typer.BadParameter(f"not an offset: {offset!r}") from exc

    async def show(dlq: "DeadLetters") -> "tuple[Parked | None, Described | None]":
        parked = await dlq.get(*where)
        return parked, (await dlq.describe(parked) if parked else None)

    parked, described = _with_dead_letters(show)
    if parked is None or described is None:
        typer.secho(f"no parked message at {where[0]}:{where[1]}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"dead letter {parked.ledger_key}  key {parked.key!r}")
    for name, value in parked.headers.items():
        typer.echo(f"  {name}: {value.decode(errors='replace')}")
    typer.echo(f"schema id: {described.schema_id}")
    if described.record is not None:
        typer.echo(json.dumps(described.record, default=str, indent=2))
    else:
        typer.echo(f"does not decode: {described.error}")
        typer.echo(_hex(parked.value or b""))


@dlq_app.command("replay")
def dlq_replay(
    reason: str | None = typer.Option(None, help="Only this reason."),
    topic: str | None = typer.Option(None, help="Only messages from this source topic."),
    since: datetime | None = typer.Option(
        None, formats=TIME_FORMATS, help="Only messages parked from this time on (UTC)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count only; send nothing."),
) -> None:
    """Send parked messages back to their source topics, each once (see the README)."""
    since_utc = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    report = _with_dead_letters(
        lambda dlq: dlq.replay(
            reason, topic, since_utc, dry_run, lambda n: typer.echo(f"sent {n}", err=True)
        )
    )
    verb = "would replay" if report.dry_run else "replayed"
    count = sum(report.by_topic.values()) if report.dry_run else report.replayed
    typer.echo(
        f"matched {report.matched}, already replayed {report.already_replayed}, "
        f"unreplayable {report.unreplayable}, {verb} {count}"
    )
    for name, n in sorted(report.by_topic.items()):
        typer.echo(f"  {name}: {n}")


def lag(
    max_lag: int | None = typer.Option(
        None, "--max", min=0, help="Exit 1 when any group's total lag exceeds this."
    ),
    groups: list[str] | None = typer.Option(
        None, "--group", help="Only this consumer group (repeatable)."
    ),
) -> None:
    """Per consumer group and partition: end offset, committed offset, lag; total per group."""
    from infra.ops.lag import measure_now

    try:
        found = asyncio.run(measure_now(get_settings(), groups or ()))
    except Exception as exc:
        typer.secho(f"error: cannot measure lag: {exc!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(EXIT_UNMEASURED) from exc
    typer.echo(f"{'group':<24} {'topic':<24} {'part':>4} {'end':>10} {'committed':>10} {'lag':>8}")
    for group in found:
        for p in group.partitions:
            committed = "-" if p.committed is None else str(p.committed)
            typer.echo(
                f"{group.group:<24} {p.topic:<24} {p.partition:>4} {p.end:>10} "
                f"{committed:>10} {p.lag:>8}"
            )
        typer.echo(f"{group.group:<24} {'total':<24} {'':>4} {'':>10} {'':>10} {group.total:>8}")
    over = [g.group for g in found if max_lag is not None and g.total > max_lag]
    if over:
        typer.secho(f"over --max {max_lag}: {', '.join(over)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _hex(data: bytes, width: int = 16) -> str:
    return "\n".join(f"{i:08x}  {data[i : i + width].hex(' ')}" for i in range(0, len(data), width))


def consumer_group_lines(settings: Settings) -> list[str]:
    """`ugc stack status`: a line per consumer group with its total lag (status never fails
    on lag: it is not a component's health)."""
    from infra.ops.lag import measure_now

    async def bounded() -> list["GroupLag"]:
        async with asyncio.timeout(15):
            return await measure_now(settings)

    try:
        found = asyncio.run(bounded())
    except Exception as exc:
        return [f"{'group':<11} {'-':<14} unknown  lag not measured: {exc!r}"]
    return [
        f"{'group':<11} {g.group:<24} lag {g.total} ({len(g.partitions)} partitions)" for g in found
    ]
