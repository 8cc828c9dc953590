"""Who may see a file: the team key that uploaded it; the admin key (and everyone, with auth off) sees all."""

from __future__ import annotations

from flask import g

from ..errors import GatewayError
from .store import FileStore, StoredFile


def owner() -> str:
    """The owner of what this request uploads: its team key ("" for the admin key, or with auth off).

    The key's id rides beside its name: a key revoked and created again under the same name is another key."""
    team = g.get("team_key")
    return f"{team.name}#{team.id}" if team is not None else ""


def visible(stored: StoredFile) -> bool:
    return g.get("team_key") is None or stored.owner == owner()


def no_access(file_id: str) -> GatewayError:
    """Google's answer for a file that does not exist, expired or is another's: the same, so none is told apart."""
    return GatewayError(403, f"You do not have permission to access the File {file_id} or it may not exist.")


def readable(store: FileStore, file_id: str) -> StoredFile:
    """The file this request may use, or the 403."""
    stored = store.get(file_id)
    if stored is None or not visible(stored):
        raise no_access(file_id)
    return stored
