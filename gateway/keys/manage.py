"""Making, finding and describing team keys, for `gateway keys` (never showing a key after it is made)."""

from __future__ import annotations

import re
import time
from typing import Protocol

from ..accounts.report import iso
from ..clock import Clock
from .gate import CACHE_SECONDS
from .limiter import utc_day
from .store import PREFIX_LENGTH, TeamKey, digest, new_secret

NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
RESERVED = frozenset({"admin"})  # how logs and metrics name GATEWAY_API_KEY


class Registry(Protocol):
    clock: Clock

    def create(self, key: TeamKey) -> TeamKey: ...

    def all_keys(self) -> tuple[TeamKey, ...]: ...

    def usage_on(self, day: str) -> dict[int, dict[str, int]]: ...

    def revoke(self, key_id: int) -> None: ...


def issue(
    registry: Registry,
    name: str,
    rpm: int | None = None,
    daily_tokens: int | None = None,
    models: tuple[str, ...] = (),
    expires_in_days: float | None = None,
) -> tuple[TeamKey, str]:
    """A new key and its secret, which only this call ever returns. Raises ValueError or NameTaken."""
    if not NAME.fullmatch(name) or name in RESERVED:
        raise ValueError(f"invalid key name {name!r}: use 1-64 letters, digits, '.', '-', '_' (not 'admin')")
    secret, now = new_secret(), registry.clock()
    expires = now + expires_in_days * 86400 if expires_in_days is not None else None
    key = TeamKey(0, name, digest(secret), secret[:PREFIX_LENGTH], now, expires, rpm, daily_tokens, models)
    return registry.create(key), secret


def find(registry: Registry, ref: str) -> TeamKey | None:
    """A key by name, else by id."""
    keys = registry.all_keys()
    return next((k for k in keys if k.name == ref), None) or next((k for k in keys if str(k.id) == ref), None)


def revoke(registry: Registry, key: TeamKey) -> None:
    """Revoke a key and return once no worker on any host still accepts it: workers re-read the keys at most
    CACHE_SECONDS old, so waiting that long means a script's next request is refused."""
    registry.revoke(key.id)
    time.sleep(CACHE_SECONDS + 0.1)


def describe_all(registry: Registry) -> list[dict]:
    usage = registry.usage_on(utc_day(registry.clock()))
    return [describe(key, usage.get(key.id)) for key in registry.all_keys()]


def describe(key: TeamKey, usage: dict[str, int] | None) -> dict:
    return {
        "name": key.name,
        "id": key.id,
        "prefix": key.prefix,
        "created": iso(key.created),
        "last_used": iso(key.last_used) if key.last_used else None,
        "expires": iso(key.expires) if key.expires is not None else None,
        "rpm": key.rpm,
        "daily_tokens": key.daily_tokens,
        "models": list(key.models),
        "usage_today": usage or {"requests": 0, "tokens_in": 0, "tokens_out": 0},
    }


def limits(row: dict) -> list[str]:
    """A key's limits as `gateway keys list` and the console name them; none: an empty list."""
    named = (
        f"rpm={row['rpm']}" if row["rpm"] else "",
        f"daily_tokens={row['daily_tokens']}" if row["daily_tokens"] else "",
        f"models={','.join(row['models'])}" if row["models"] else "",
    )
    return [part for part in named if part]


def summary_line(row: dict) -> str:
    today = row["usage_today"]
    return "  ".join(
        part
        for part in (
            f"{row['id']:>3}  {row['name']}  {row['prefix']}…",
            *limits(row),
            f"expires={row['expires'] or 'never'}",
            f"today: requests={today['requests']} tokens_in={today['tokens_in']} tokens_out={today['tokens_out']}",
            f"last_used={row['last_used'] or 'never'}",
        )
        if part
    )
