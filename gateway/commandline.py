"""The `gateway` command's frame: settings read on first use (the environment and --env-file), --version, and
one line on stderr, never a traceback, for whatever fails. Command groups (accounts, ...) attach to `cli`."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

import click
from flask import Flask
from flask.cli import ScriptInfo

from . import __version__
from .accounts.store import Store
from .config import Settings, SettingsError
from .envfile import EnvFileError, read_env_file
from .startup import database_variable, make_data_dir, refuse_a_file


class GatewayApp:
    """Builds the app the commands run in, on first use (so `--help` works whatever the settings)."""

    def __init__(self, env_file: Path | None) -> None:
        self.env_file = env_file
        self.settings: Settings | None = None

    def __call__(self) -> Flask:
        from . import create_app

        try:
            # The file's values win over the inherited environment's, as systemd's EnvironmentFile= does.
            env = {**os.environ, **read_env_file(self.env_file)} if self.env_file else None
            self.settings = Settings.from_env(env)
            command = click.get_current_context().command
            open_database(self.settings, create=getattr(command, "creates_database", False))
        except (EnvFileError, SettingsError) as exc:
            raise click.ClickException(str(exc)) from None
        return create_app(self.settings)


def echo_rows(rows: list[dict], as_json: bool, empty: str, lines: Callable[[dict], Iterable[str]]) -> None:
    """What a list command prints: the rows as a JSON array (for scripts), else each row's lines, or `empty`."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(empty)
    for row in rows:
        for line in lines(row):
            click.echo(line)


def creates_database(command: click.Command) -> click.Command:
    """Mark a command that adds accounts or keys: it may start a new database. Every other one needs the
    database to exist: run without the service's settings, it would read (or fill) a second, empty one."""
    command.creates_database = True
    return command


def open_database(settings: Settings, create: bool) -> None:
    """Make sure the database exists, creating it (and saying so on stderr) only when `create` allows."""
    refuse_a_file(settings)
    database = settings.database
    if database.exists():
        return
    if not create:
        raise click.ClickException(
            f"no database at {database}, and none was created: the service's settings may be missing "
            f"(--env-file, e.g. /etc/gemini-gateway/gateway.env, or {database_variable(settings)})"
        )
    make_data_dir(settings)
    Store(database).connect().close()
    click.echo(f"created a new database at {database}", err=True)


class GatewayGroup(click.Group):
    """The top-level group: what fails below it (the database, the disk) becomes one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except sqlite3.Error as exc:
            settings = ctx.obj.data["app"].settings
            raise click.ClickException(f"cannot use the database {settings.database}: {exc}") from None
        except BrokenPipeError:
            raise
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None


@click.group(cls=GatewayGroup, context_settings={"help_option_names": ["-h", "--help"]}, no_args_is_help=False)
@click.version_option(__version__, "--version", prog_name="gateway", message="%(prog)s %(version)s")
@click.option(
    "-e",
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Read settings from this systemd environment file too (the service's, e.g. "
    "/etc/gemini-gateway/gateway.env); its values win over the environment's.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Below an error, show what the gateway logged meanwhile (plain text).",
)
@click.pass_context
def cli(ctx: click.Context, env_file: Path | None, verbose: bool) -> None:
    """Manage the Gemini gateway from the command line.

    Reads the same GATEWAY_* settings as the server, from the environment and --env-file. The server
    itself is started with `gunicorn -c gunicorn.conf.py`.
    """
    HELD.shown = verbose
    app = GatewayApp(env_file)
    ctx.obj = ScriptInfo(create_app=app, set_debug_flag=False)
    ctx.obj.data["app"] = app  # the settings, for the error lines


class HeldLines(logging.Handler):
    """What the gateway's modules log while a command runs, never as the server's JSON lines: hidden (the
    command's own output and its one error line say what happened), or with --verbose shown as plain text
    below a failure's line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: dict[str, None] = {}  # in order, each once: a failing disk says the same thing per query
        self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        self.lines[f"  {record.levelname.lower()}: {record.getMessage()}"] = None


HELD = HeldLines()


def hold_log_lines() -> None:
    """Route the gateway's loggers (and any library's) to HELD; configure_logging then leaves them alone."""
    gateway = logging.getLogger("gateway")
    gateway.addHandler(HELD)
    gateway.propagate = False
    logging.getLogger().addHandler(HELD)


def run(group: click.Group, args: list[str] | None = None) -> None:
    """Run the command: a failure is one line on stderr (`Error: ...`) and a non-zero exit."""
    hold_log_lines()
    try:
        code = group.main(args, prog_name="gateway", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        _fail(exc.format_message() + hint, exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except click.Abort:
        _fail("aborted", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    for line in HELD.lines if HELD.shown else ():
        click.echo(line, err=True)
    sys.exit(code)
