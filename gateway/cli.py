"""The `gateway` command: Flask's CLI plus `gateway accounts ...` to manage the pool."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from .accounts.importer import ImportFormatError, enroll, read_credentials
from .accounts.oauth import OAuthError
from .accounts.store import Account, Snapshot
from .services import services

accounts = click.Group("accounts", help="Manage the Google accounts the gateway serves from.")


@accounts.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@with_appcontext
def import_command(source: Path) -> None:
    """Import accounts from an export file or an Antigravity-Manager data folder, verifying each token."""
    try:
        credentials = read_credentials(source)
    except ImportFormatError as exc:
        raise click.ClickException(str(exc)) from None
    gateway = services()
    failures = 0
    for number, credential in enumerate(credentials, 1):
        label = credential.email or f"entry {number}"
        try:
            result = enroll(gateway.store, gateway.oauth, gateway.client, credential)
        except OAuthError as exc:
            failures += 1
            click.echo(f"[{number}/{len(credentials)}] {label}: not imported: {exc}")
            continue
        email = result.account.email if result.account else label
        failures += result.account is None or not result.account.enabled
        click.echo(f"[{number}/{len(credentials)}] {email}: {result.note}")
    if failures == len(credentials):
        raise click.ClickException("no account could be activated")


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, for scripts.")
@with_appcontext
def list_command(as_json: bool) -> None:
    """Show every account: state, project, tier and cooldowns (never a token)."""
    store = services().store
    snapshot = store.snapshot()
    usage: dict[int, dict] = {}
    for row in store.usage():
        usage.setdefault(row["account_id"], {})[row["model"]] = {
            "requests": row["requests"],
            "failures": json.loads(row["failures"]),
            "tokens_in": row["tokens_in"],
            "tokens_out": row["tokens_out"],
            "last_error": row["last_error"],
        }
    rows = [describe(snapshot, account, time.time(), usage.get(account.id, {})) for account in snapshot.accounts]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no accounts; add some with `gateway accounts import FILE`")
    for row in rows:
        state = row["state"]
        if row["disabled_reason"]:
            state += f": {row['disabled_reason']}"
        elif row["cooldowns"]:
            state += " " + ", ".join(f"{c['model']} until {c['until']}" for c in row["cooldowns"])
        requests = sum(u["requests"] for u in row["usage"].values())
        failures = sum(sum(u["failures"].values()) for u in row["usage"].values())
        where = f"project={row['project'] or '-'}  tier={row['tier'] or '-'}  requests={requests} failed={failures}"
        click.echo(f"{row['id']:>3}  {row['email']}  {state}  {where}")


def describe(snapshot: Snapshot, account: Account, now: float, usage: dict) -> dict:
    """An account as `accounts list` shows it."""
    cooldowns = [
        {"model": model, "until": _iso(c.until), "seconds_left": round(c.until - now), "reason": c.reason}
        for (account_id, model), c in sorted(snapshot.cooldowns.items())
        if account_id == account.id and c.until > now
    ]
    state = "disabled" if not account.enabled else "cooling" if cooldowns else "active"
    return {
        "id": account.id,
        "email": account.email,
        "state": state,
        "disabled_reason": account.disabled_reason,
        "project": account.project,
        "tier": account.tier,
        "cooldowns": cooldowns,
        "models": sorted(account.models),
        "token_expires": _iso(account.token_expiry) if account.token_expiry else None,
        "last_used": _iso(account.last_used) if account.last_used else None,
        "usage": usage,
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def init_app(app: Flask) -> None:
    app.cli.add_command(accounts)


def main() -> None:
    from . import create_app

    FlaskGroup(create_app=create_app, add_version_option=False, help="The Gemini gateway.")(prog_name="gateway")
