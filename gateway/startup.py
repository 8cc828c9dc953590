"""What the server checks before gunicorn binds or forks, and the one line it logs once it serves."""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

from . import __version__
from .accounts.store import Store
from .config import Settings, SettingsError, is_loopback, key_configured
from .keys.store import KeyStore
from .upstream.identity import AUTO, BUILT_IN_USER_AGENT

PROBE_BYTES = 4096  # one page: enough for a full disk to refuse it


@functools.cache
def preflight() -> tuple[Settings, int]:
    """The settings and the number of stored accounts, or exit 1 with one line saying what is wrong.

    Once per process: a reload (HUP) reads gunicorn.conf.py again, and must not stop a running gateway over
    a disk that filled up since (the environment itself cannot have changed)."""
    try:
        settings = Settings.from_env()
        check_data_dir(settings)
        check_files_dir(settings)
        accounts = count_accounts(settings)
        check_exposure(settings, has_team_keys(settings))
        return settings, accounts
    except SettingsError as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    """One line on stderr and exit 1: no traceback, nothing bound, no worker started."""
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()
    sys.exit(1)


def check_exposure(settings: Settings, team_keys: bool) -> None:
    """A public bind with auth on and no key would refuse every client, blaming them: refuse it here."""
    no_key = not key_configured(settings.api_key) and not team_keys
    if settings.auth_mode != "off" and not is_loopback(settings.bind) and no_key:
        raise SettingsError(
            f"GATEWAY_BIND={settings.bind} is not a loopback address and auth is on ({settings.auth_mode}), "
            "but GATEWAY_API_KEY is empty and there is no team key: set a key, or bind 127.0.0.1 behind nginx"
        )


def has_team_keys(settings: Settings) -> bool:
    """Whether any team key exists. With Redis they live there, and its client must not be loaded before
    gunicorn forks (gevent patches ssl in the workers): assume so, as auth is on anyway."""
    if settings.redis_url:
        return True
    store = Store(settings.database)
    keys = KeyStore(store)
    try:
        return bool(keys.all_keys())
    except keys.errors:
        return True
    finally:
        keys.close()
        store.close()


def database_variable(settings: Settings) -> str:
    """The variable that chose where the database lives, for error messages."""
    return "GATEWAY_STATE_URL" if settings.state_url.startswith("sqlite:///") else "GATEWAY_DATA_DIR"


def refuse_a_file(settings: Settings) -> None:
    """A data directory that is a file: say so (mkdir would only say "File exists")."""
    directory = settings.database.parent
    if directory.exists() and not directory.is_dir():
        raise SettingsError(f"{database_variable(settings)}: {directory} is not a directory")


def make_data_dir(settings: Settings) -> None:
    """Create the database's directory (it will hold refresh tokens: owner only)."""
    refuse_a_file(settings)
    directory = settings.database.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"{database_variable(settings)}: cannot create {directory}: {exc.strerror}") from None


def check_data_dir(settings: Settings) -> None:
    """Create the database's directory and prove it takes a write (read-only, full disk, not a directory)."""
    make_data_dir(settings)
    prove_writable(settings.database.parent, database_variable(settings))


def check_files_dir(settings: Settings) -> None:
    """Create the Files API's directory (uploads are the clients' data: owner only) and prove it takes a write."""
    directory = settings.files_root
    variable = "GATEWAY_FILES_DIR" if settings.files_dir else "GATEWAY_DATA_DIR"
    if directory.exists() and not directory.is_dir():
        raise SettingsError(f"{variable}: {directory} is not a directory")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"{variable}: cannot create {directory}: {exc.strerror}") from None
    prove_writable(directory, variable)


def prove_writable(directory: Path, variable: str) -> None:
    try:
        with tempfile.TemporaryFile(dir=directory) as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise SettingsError(f"{variable}: cannot write to {directory}: {exc.strerror}") from None


def count_accounts(settings: Settings) -> int:
    """Open the database as the workers will (creating it), and count its accounts."""
    store = Store(settings.database)
    try:
        return len(store.accounts())
    except sqlite3.Error as exc:
        raise SettingsError(f"{database_variable(settings)}: cannot use the database {store.path}: {exc}") from None
    finally:
        store.close()  # a connection must not cross gunicorn's fork into the workers


def state_backend(settings: Settings) -> str:
    """Where the shared pool state lives, credentials left out (a Redis URL may carry a password)."""
    if not settings.redis_url:
        return "sqlite"
    scheme, _, rest = settings.redis_url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def log_ready(log: logging.Logger, settings: Settings, listeners: Iterable[object], accounts: int) -> None:
    """The start-up line: what an operator needs to know the gateway came up as intended."""
    fields = {
        "bind": ", ".join(str(listener) for listener in listeners) or settings.bind,
        "auth_mode": settings.auth_mode,
        "data_dir": str(settings.database.parent),
        "state": state_backend(settings),
        "accounts": accounts,
        "version": __version__,
        "user_agent": client_identity(settings),
    }
    log.info(
        "gateway %s serving on %s: auth %s, data dir %s, state %s, %d accounts, client %s",
        *(fields[k] for k in ("version", "bind", "auth_mode", "data_dir", "state", "accounts", "user_agent")),
        extra={"fields": fields},
    )


def client_identity(settings: Settings) -> str:
    """The User-Agent calls to Google start with, and where a newer one will come from."""
    if settings.user_agent != AUTO:
        return f"{settings.user_agent} (as configured)"
    return f"{BUILT_IN_USER_AGENT} (auto: until {settings.client_manifest_url} names a newer release)"
