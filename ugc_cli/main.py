"""`ugc`: the operators' command line (local stack, initers, running the service)."""

from datetime import timedelta
from pathlib import Path
from uuid import UUID

import typer

from infra.stack.process import StackError
from ugc.settings import get_settings
from ugc_cli.analytics import analytics_app
from ugc_cli.erase import erase
from ugc_cli.ops import consumer_group_lines, dlq_app, lag
from ugc_cli.schemas import schemas_app

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="UGC service: local stack, initers and tools.",
)
stack_app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="The local single-node stack (no Docker).",
)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")
app.add_typer(analytics_app, name="analytics")
app.add_typer(dlq_app, name="dlq")


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@stack_app.command("up")
def stack_up(
    init: bool = typer.Option(True, help="Run the initers once everything is healthy."),
) -> None:
    """Provision and start every component, wait until healthy, then run the initers."""
    from infra.stack.manager import Stack

    settings = get_settings()
    try:
        Stack(settings).up(typer.echo)
    except StackError as exc:
        raise _fail(exc) from exc
    if init:
        run_init()


@stack_app.command("down")
def stack_down() -> None:
    """Stop every component; no stack process is left behind. Data is kept."""
    from infra.stack.manager import Stack

    Stack(get_settings()).down(typer.echo)


@stack_app.command("status")
def stack_status() -> None:
    """Each component with its version, address and health; exits 1 if any is unhealthy."""
    from infra.stack.manager import Stack

    stack = Stack(get_settings())
    statuses = stack.status()
    for s in statuses:
        state = "healthy" if s.health.ok else "DOWN"
        pid = f"pid {s.pid}" if s.pid else "-"
        typer.echo(
            f"{s.name:<11} {s.version:<14} {state:<8} {pid:<10} {s.address}  {s.health.detail}"
        )
    kafka_ok = any(s.name.startswith("kafka") and s.health.ok for s in statuses)
    if len(stack.kafka_nodes) > 1:
        typer.echo(f"{'cluster':<11} {'kafka':<14} {stack.kafka_cluster()}")
    for line in consumer_group_lines(get_settings()) if kafka_ok else []:
        typer.echo(line)
    if not all(s.health.ok for s in statuses):
        raise typer.Exit(1)


@stack_app.command("logs")
def stack_logs(
    component: str = typer.Argument(..., help="kafka, registry, ferretdb or nginx"),
    lines: int = typer.Option(60, "--lines", "-n"),
) -> None:
    """The tail of a component's log."""
    from infra.stack.manager import Stack

    try:
        typer.echo(Stack(get_settings()).log_tail(component, lines))
    except StackError as exc:
        raise _fail(exc) from exc


@app.command("init")
def run_init() -> None:
    """Create missing topics, subjects, ClickHouse tables and MongoDB indexes; report the rest."""
    from infra.init import init_all

    for result in init_all(get_settings()):
        typer.echo(result.line())


@app.command("nginx-config")
def nginx_config(
    upstream: str = typer.Option(..., help="host:port of the API"),
    listen: str = typer.Option(..., help="address or port nginx listens on"),
    output: Path = typer.Option(..., help="file to write"),
) -> None:
    """Render the nginx configuration for a container (compose.yaml's nginx-config service)."""
    from infra.stack.nginx import render_nginx_conf

    settings = get_settings()
    output.write_text(
        render_nginx_conf(
            listen=listen,
            api_upstream=upstream,
            body_limit=settings.nginx_body_limit,
            rate_limit=settings.nginx_rate_limit,
            rate_burst=settings.nginx_rate_burst,
            client_timeout_s=settings.client_timeout_s,
            run_dir=Path("/tmp"),
            log_dir=Path("/var/log/nginx"),
            temp_dir=Path("/tmp/nginx"),
            as_root=True,
        )
    )


@app.command("token")
def token(
    user: UUID = typer.Option(..., "--user", help="The viewer's UUID (the token's sub)."),
    ttl_minutes: int = typer.Option(60, help="Lifetime of the token."),
) -> None:
    """Mint a development JWT signed with the local secret (UGC_JWT_SECRET)."""
    from ingest_api.auth import mint_token

    try:
        typer.echo(mint_token(get_settings(), user, timedelta(minutes=ttl_minutes)))
    except ValueError as exc:
        raise _fail(exc) from exc


@app.command("run")
def run_service() -> None:
    """Run the API and the Faust worker in the foreground (the stack must be up)."""
    from ugc_cli.runner import run_services

    raise typer.Exit(run_services(get_settings(), typer.echo))


app.command("lag")(lag)  # defined in ugc_cli.ops, beside `ugc dlq`
app.command("erase")(erase)  # ugc_cli.erase: a viewer's data, everywhere (GDPR)

if __name__ == "__main__":
    app()
