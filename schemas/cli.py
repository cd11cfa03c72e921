"""`ugc schemas ...`: schema tooling for data engineers (placeholder, being written)."""

import typer

schemas_app = typer.Typer(no_args_is_help=True, help="Avro schemas: list, show, check, register, diff.")
