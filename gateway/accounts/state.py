"""The shared state the pool needs, as an interface: SQLite implements it today, Redis can tomorrow."""

from __future__ import annotations

from typing import Protocol

from .store import Account, Snapshot, Tally


class PoolState(Protocol):
    """Accounts, tokens, cooldowns and usage, seen alike by every worker (and host) that shares them."""

    shared_state: str  # for /healthz: "sqlite", "redis" or "degraded"

    def snapshot(self) -> Snapshot:
        """Accounts and cooldowns as of now; cheap to call on every request."""

    def get(self, account_id: int) -> Account | None:
        """One account, read through any cache (tokens may have just been refreshed elsewhere)."""

    def update(self, account_id: int, **fields: object) -> None:
        """Change an account's fields: tokens, project, tier, enabled, disabled_reason, models."""

    def set_cooldown(self, account_id: int, model: str, seconds: float, reason: str) -> None:
        """Bench an account for a model (or `*` for all) and count one more strike."""

    def clear_cooldown(self, account_id: int, model: str) -> None:
        """Forget a cooldown and its strikes."""

    def try_lock_refresh(self, account_id: int, seconds: float) -> bool:
        """Take the account's token-refresh lock everywhere; it lapses by itself after `seconds`."""

    def add_usage(self, tallies: dict[tuple[int, str], Tally]) -> None:
        """Add counted requests, failures and tokens per account and model."""
