"""What an operator does to one account, from the `gateway` command or the console: one definition each."""

from __future__ import annotations

import contextlib

from ..upstream.errors import UpstreamError
from .pool import AccountUnavailable, Pool
from .quota import fetch_models, fetch_quota_groups
from .store import Account


def set_enabled(pool: Pool, account: Account, enabled: bool) -> None:
    """Put an account back into service, or take it out without forgetting it."""
    reason = "" if enabled else "disabled by the operator"
    appeal = {"appeal_url": ""} if enabled else {}  # back in service: a ban's appeal link is history
    pool.store.update(account.id, enabled=int(enabled), disabled_reason=reason, **appeal)


def fetch_quota(pool: Pool, account: Account) -> str:
    """Fetch and store the account's models and remaining quota; the error message, or "" when it worked."""
    try:
        account = pool.credentials(account)
        client = pool.client_for(account)
        fields: dict = {"models": fetch_models(client, account.access_token, account.project)}
    except (AccountUnavailable, UpstreamError) as exc:
        return exc.message
    # Best effort, as Antigravity-Manager does: not every account or endpoint reports the buckets.
    with contextlib.suppress(UpstreamError):
        fields["quota_groups"] = fetch_quota_groups(client, account.access_token, account.project)
    pool.store.update(account.id, **fields)  # one write: a reader never sees the models without their buckets
    return ""
