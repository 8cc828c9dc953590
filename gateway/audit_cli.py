"""`gateway audit`: the last administrative actions, newest first."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .commandline import echo_rows
from .services import services


@click.command("audit")
@click.option("--json", "as_json", is_flag=True, help='Print [{"time","actor","action","target"}], newest first.')
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Show the last N entries.")
@with_appcontext
def audit(as_json: bool, limit: int) -> None:
    """Show who changed the pool or the team keys, and when (the console's buttons and these commands)."""
    echo_rows(
        services().audit.newest(limit),
        as_json,
        "no administrative action recorded yet",
        lambda entry: (f"{entry['time']}  {entry['actor']}  {entry['action']}  {entry['target']}",),
    )
