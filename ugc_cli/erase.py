"""`ugc erase`: erase a viewer's data everywhere (GDPR), as DELETE /api/v1/me does for the
caller, and follow an erasure's progress."""

import asyncio
import time
from typing import TYPE_CHECKING
from uuid import UUID

import typer

from ugc.errors import DependencyUnavailable
from ugc.settings import get_settings

if TYPE_CHECKING:  # imported when the command runs: `ugc` starts fast for every command
    from ingest_api.erasure_models import ErasureOut
    from ingest_api.services.erasure import ErasureService

POLL_S = 0.5


def erase(
    user: UUID | None = typer.Option(None, "--user", help="The viewer to erase."),
    status: UUID | None = typer.Option(
        None, "--status", help="An erasure id: print its progress instead."
    ),
    wait: float = typer.Option(
        0.0, "--wait", min=0, help="Seconds to wait for the erasure to complete (0: none)."
    ),
) -> None:
    """Erase a viewer (--user): markers into every partition of every event topic, after
    which each worker erases what the viewer's earlier events left. Prints the erasure id, and
    with --wait its progress (JSON) once complete. Exit 1 when not complete in time, failed, or
    a store or Kafka is unavailable."""
    from schemas.codec import SchemaNotRegistered

    if (user is None) == (status is None):
        raise typer.BadParameter("give either --user or --status")
    try:
        outcome = asyncio.run(_erase(user, status, wait))
    except (DependencyUnavailable, SchemaNotRegistered) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    if outcome is None:
        return
    typer.echo(outcome.model_dump_json())
    waited = status is None
    if outcome.status == "failed" or (waited and outcome.status != "complete"):
        raise typer.Exit(1)


async def _erase(user: UUID | None, status: UUID | None, wait_s: float) -> "ErasureOut | None":
    from ingest_api.services.erasure import erasure_service

    async with erasure_service(get_settings()) as service:
        if status is not None:
            found = await service.status(status)
            if found is None:
                raise typer.BadParameter(f"no erasure {status}", param_hint="--status")
            return found
        assert user is not None
        erasure_id = UUID(await service.erase(user))
        typer.echo(f"erasure {erasure_id} of viewer {user} accepted")
        return await _until_complete(service, erasure_id, wait_s) if wait_s else None


async def _until_complete(
    service: "ErasureService", erasure_id: UUID, wait_s: float
) -> "ErasureOut":
    deadline = time.monotonic() + wait_s
    while True:
        found = await service.status(erasure_id)
        assert found is not None  # recorded before the markers were written
        if found.status != "pending" or time.monotonic() > deadline:
            return found
        await asyncio.sleep(POLL_S)
