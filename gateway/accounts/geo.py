"""Geo-blocks are the egress's fault, not the account's: which accounts could still be served from elsewhere.

Google answers 400 FAILED_PRECONDITION "User location is not supported for the API use." to datacenter and VPN
addresses (upstream/answers.py). Another account behind the same egress would hear the same, so a geo-block
benches nobody and the request goes on only to an account whose egress differs.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..config import Settings
from .egress import egress_of
from .store import Account


def same_egress(account: Account, accounts: Iterable[Account], settings: Settings) -> set[int]:
    """The ids of the accounts whose calls leave by `account`'s egress (itself included)."""
    mine = egress_of(account, settings)
    return {other.id for other in accounts if egress_of(other, settings) == mine}
