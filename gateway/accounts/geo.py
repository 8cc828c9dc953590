"""Geo-blocks are the egress's fault, not the account's: which accounts could still be served from elsewhere.

Google answers 400 FAILED_PRECONDITION "User location is not supported for the API use." to datacenter and VPN
addresses (upstream/answers.py). Another account behind the same egress would hear the same, so a geo-block
benches nobody and the request goes on only to an account whose egress differs.
"""

from __future__ import annotations

from collections.abc import Iterable

from .store import Account


def egress_of(account: Account, shared: str) -> str:
    """The way out to Google that `account`'s calls take: `shared`, GATEWAY_UPSTREAM_PROXY ("" for a direct
    connection), for every account until per-account egress (accounts/egress.py) gives each its own proxy;
    then this returns that proxy, and the relay's failover follows without another change."""
    return shared


def same_egress(account: Account, accounts: Iterable[Account], shared: str) -> set[int]:
    """The ids of the accounts whose calls leave by `account`'s egress (itself included)."""
    mine = egress_of(account, shared)
    return {other.id for other in accounts if egress_of(other, shared) == mine}
