"""`gateway keys create|list|revoke`: one key per person or app, with its own limits."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from ..audit import cli_actor, record
from ..commandline import creates_database, echo_rows
from ..services import services
from .manage import describe_all, find, issue, revoke, summary_line
from .store import NameTaken

keys = click.Group("keys", help="Manage team keys: one API key per person or app, with limits and usage.")


def _patterns(value: str | None) -> tuple[str, ...]:
    return tuple(pattern.strip() for pattern in (value or "").split(",") if pattern.strip())


@creates_database
@keys.command("create")
@click.argument("name")
@click.option("--rpm", type=click.IntRange(min=1), help="At most N requests in any 60 seconds.")
@click.option("--daily-tokens", type=click.IntRange(min=1), help="At most N tokens (in + out) per UTC day.")
@click.option("--models", help="Comma-separated glob patterns of the models it may use, e.g. 'gemini-2.5-*'.")
@click.option("--expires-in", type=click.FloatRange(min=0), help="Stop working after DAYS days.")
@click.option("--json", "as_json", is_flag=True, help='Print {"name","id","key","prefix"} as JSON, for scripts.')
@with_appcontext
def create_command(
    name: str, rpm: int | None, daily_tokens: int | None, models: str | None, expires_in: float | None, as_json: bool
) -> None:
    """Make a new key and print it once: it is stored hashed and cannot be shown again."""
    try:
        key, secret = issue(services().keys.backend, name, rpm, daily_tokens, _patterns(models), expires_in)
    except NameTaken:
        raise click.ClickException(f"a key named {name!r} exists already; revoke it or pick another name") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    record(cli_actor(), "keys create", key.name)
    if as_json:
        click.echo(json.dumps({"name": key.name, "id": key.id, "key": secret, "prefix": key.prefix}))
        return
    click.echo(f"created key {key.name} (id {key.id}); copy it now, it is not shown again:")
    click.echo(secret)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, for scripts.")
@with_appcontext
def list_command(as_json: bool) -> None:
    """Show every key: limits, expiry, last use and today's usage (never the key itself)."""
    rows = describe_all(services().keys.backend)
    echo_rows(rows, as_json, "no team keys; make one with `gateway keys create NAME`", lambda row: (summary_line(row),))


@keys.command("revoke")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def revoke_command(key: str, yes: bool) -> None:
    """Revoke a key (by name or id): once this returns, every gateway refuses it."""
    backend = services().keys.backend
    found = find(backend, key)
    if found is None:
        raise click.ClickException(f"no team key {key!r} (give a name or the id `gateway keys list` shows)")
    if not yes:
        click.confirm(f"Revoke key {found.name}? Clients using it are refused from now on", abort=True)
    revoke(backend, found)
    record(cli_actor(), "keys revoke", found.name)
    click.echo(f"revoked {found.name}")
