"""`flask pv ...`: operations that run without a browser."""

from __future__ import annotations

import click
from flask.cli import AppGroup

pv = AppGroup("pv", help="pvplatform commands.")


@pv.command("create-user")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--role", default="citizen", show_default=True,
              type=click.Choice(["citizen", "association", "staff", "elected", "evaluator",
                                 "admin"]))
@click.password_option()
def create_user_command(email: str, display_name: str, role: str, password: str) -> None:
    """Create an account (for instance the first admin)."""
    from pvplatform.auth.models import Role
    from pvplatform.auth.services import create_account
    from pvplatform.errors import DomainError
    from pvplatform.extensions import db

    try:
        user = create_account(email=email, password=password, display_name=display_name,
                              role=Role(role), actor=None)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(err.message) from err
    click.echo(f"created user {user.id} <{user.email}> with role {user.role}")


@pv.command("demo")
@click.option("--if-empty", is_flag=True, help="Load only when the database has no process.")
def demo_command(if_empty: bool) -> None:
    """Load the demo process of a fictional town (safe to run again)."""
    from pvplatform.demo import load_demo

    load_demo(if_empty=if_empty, echo=click.echo)
