"""Which account serves a request, and what its failures cost it."""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from ..errors import GatewayError, too_many_requests
from ..upstream.client import UpstreamClient
from ..upstream.errors import AuthFailed, Banned, Forbidden, RateLimited, RouteFailed, UpstreamError
from ..upstream.version_gate import ClientOutdated
from .egress import Egresses
from .oauth import InvalidGrant, OAuthError, RouteBroken
from .order import Order
from .project import NoProject, discover
from .state import PoolState
from .store import ACCOUNT_WIDE, Account, Snapshot

log = logging.getLogger(__name__)

REFRESH_MARGIN = 300  # refresh this long before expiry, so no request ever carries a dying token
REFRESH_LOCK = 30  # how long one process may hold an account's refresh before others take over
NEARLY_READY = 3.0  # a cooldown ending sooner than this is waited out instead of refused
AUTH_COOLDOWN = 60  # an account whose fresh token is refused sits out this long
BACKOFF = (5, 15, 60, 300, 1800)  # a 429 with no hint: each repeat waits longer
FINGERPRINT_HEAD = 4096  # characters of a conversation's first user text that identify it


class AccountUnavailable(GatewayError):
    """This account cannot serve now (token or project problem); another may."""

    retry_elsewhere = True

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


def no_accounts() -> GatewayError:
    return GatewayError(
        503,
        "No usable Google account is configured. Add one with `gateway accounts import FILE` "
        "(or see `gateway accounts list` for why the existing ones are disabled).",
    )


def fingerprint(body: dict) -> str | None:
    """A conversation's identity: its first substantial user text (as Antigravity-Manager keys sessions).

    Only the text's start and its length are hashed: they tell conversations apart as well as the whole
    would, and a 1M-token prompt is not hashed on every turn (milliseconds in which other streams would stall)."""
    for content in body.get("contents") or ():
        if isinstance(content, dict) and content.get("role") == "user":
            parts = content.get("parts") or ()
            texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
            head = " ".join(text[:FINGERPRINT_HEAD] for text in texts).strip()[:FINGERPRINT_HEAD]
            if len(head.encode()) > 10:
                size = sum(map(len, texts))
                return hashlib.sha256(f"{size}:{head}".encode()).hexdigest()[:16]
    return None


class Pool:
    def __init__(self, store: PoolState, egresses: Egresses) -> None:
        self.store = store
        self.egresses = egresses
        self._locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
        self._turn = itertools.count()
        self._order, self._ordered = Order(()), ()
        # What to do when an account answers 404 for a model it lists (model_lists.ModelLists re-reads the list).
        self.on_not_found: Callable[[Account, str], None] | None = None

    def pick(
        self, model: str, session: str | None, excluded: set[tuple[int, str]], fallbacks: tuple[str, ...] = ()
    ) -> tuple[Account, Snapshot, str]:
        """An enabled account that serves the model and is not cooling down for it (the session's own, else
        the next in turn), with the snapshot it was chosen from and the model it serves: `model`, or when
        every account is cooling down or out of quota for it, the first of `fallbacks` one can serve.

        `excluded`: the (account id, model) pairs this request already tried.
        """
        snapshot = self.store.snapshot()
        now = self.store.clock()
        accounts = snapshot.accounts
        order = self._order_for(accounts)
        turn = next(self._turn)
        spent = None  # ready, but its last quota reading (`gateway accounts quota`) showed the model used up
        for candidate in (model, *fallbacks):
            for position in order.for_session(session) if session else order.round_robin(turn):
                account = accounts[position]
                if (
                    (account.id, candidate) in excluded
                    or not _serves(account, candidate)
                    or snapshot.cooling(account, candidate, now)
                ):
                    continue
                if _has_quota(account, candidate, now):
                    return account, snapshot, candidate
                spent = spent or (account, candidate)
        if spent is not None:
            return spent[0], snapshot, spent[1]
        enabled = [a for a in accounts if a.enabled]
        serving = [a for a in enabled if _serves(a, model)]
        if enabled and not serving:
            raise GatewayError(
                404,
                f"models/{model} is not served by this gateway: none of its {len(enabled)} enabled accounts "
                "lists it. Call ListModels to see the models they serve.",
            )
        waiting = [a for a in serving if (a.id, model) not in excluded]
        if not waiting:
            raise no_accounts()
        wait = min(snapshot.cooling(a, model, now).until for a in waiting) - now
        if wait > NEARLY_READY:
            also = f" (and its fallbacks {', '.join(fallbacks)})" if fallbacks else ""
            raise too_many_requests(
                f"Every account is cooling down for {model}{also}; the first is ready in {wait:.0f}s.", wait
            )
        time.sleep(max(wait, 0))
        return self.pick(model, session, excluded, fallbacks)

    def _order_for(self, accounts: tuple[Account, ...]) -> Order:
        """The walking order of this account list, rebuilt only when the list or an enabled flag changed."""
        if accounts is not self._ordered:
            if not self._order.fits(accounts):
                self._order = Order(accounts)
            self._ordered = accounts
        return self._order

    def client_for(self, account: Account) -> UpstreamClient:
        """The upstream client of the account's egress (its proxy's connection pool)."""
        return self.egresses.of(account).client

    def credentials(self, account: Account, force: bool = False) -> Account:
        """The account with a live access token and a project, refreshing or discovering them once."""
        if not force and self._fresh(account) and account.project:
            return account
        with self._locks[account.id]:
            current = self.store.get(account.id) or account
            if force and current.access_token == account.access_token:
                current = self._refresh(current, stale=account.access_token)
            elif not self._fresh(current):
                current = self._refresh(current)
            if not current.project:
                current = self._discover(current)
            return current

    def refresh(self, account: Account) -> Account:
        """Force a new access token now (the CLI's `accounts refresh`)."""
        with self._locks[account.id]:
            return self._refresh(account, stale=account.access_token)

    def _refresh(self, account: Account, stale: str = "") -> Account:
        deadline = time.monotonic() + REFRESH_LOCK + 5
        while not self.store.try_lock_refresh(account.id, REFRESH_LOCK):
            # Another process is refreshing this account: use its token when it lands.
            time.sleep(0.05)
            if landed := self._refreshed_elsewhere(account.id, stale):
                return landed
            if time.monotonic() > deadline:
                raise AccountUnavailable("Timed out waiting for another worker to refresh an account token.")
        if landed := self._refreshed_elsewhere(account.id, stale):  # it landed just before we took the lock
            self.store.update(account.id, refresh_lock_until=0)
            return landed
        try:
            grant = self.egresses.of(account).oauth.refresh(account.refresh_token)
        except OAuthError as exc:
            self.store.update(account.id, refresh_lock_until=0, **_disabled_if_revoked(exc))
            log.warning("token refresh failed for account %d: %s", account.id, exc)
            if isinstance(exc, RouteBroken):
                raise exc.failure from None  # the proxy or TLS is at fault, not this account: say which
            raise AccountUnavailable("An account's access token could not be refreshed.") from None
        self.store.update(
            account.id, access_token=grant.access_token, token_expiry=grant.expires_at, refresh_lock_until=0
        )
        return self.store.get(account.id)

    def _refreshed_elsewhere(self, account_id: int, stale: str) -> Account | None:
        current = self.store.get(account_id)
        return current if current and self._fresh(current) and current.access_token != stale else None

    def _fresh(self, account: Account) -> bool:
        return bool(account.access_token) and account.token_expiry - self.store.clock() > REFRESH_MARGIN

    def _discover(self, account: Account) -> Account:
        try:
            project, tier = discover(self.client_for(account), account.access_token)
        except NoProject as exc:
            self.store.update(account.id, enabled=0, disabled_reason=f"no project: {exc}")
            raise AccountUnavailable("An account has no Cloud Code project.") from None
        except (ClientOutdated, RouteFailed):  # the operator's to fix, not this account's: say so as it is
            raise
        except UpstreamError as exc:
            log.warning("project discovery failed for account %d: %s", account.id, exc.message)
            raise AccountUnavailable("An account's Cloud Code project could not be found.") from None
        self.store.update(account.id, project=project, tier=tier)
        return self.store.get(account.id)

    def failed(self, account: Account, model: str, error: GatewayError) -> None:
        """Bench the account as the failure deserves; shared with every worker through the store."""
        if isinstance(error, RateLimited):
            cooldown = self.store.snapshot().cooldowns.get((account.id, model))
            strikes = cooldown.strikes if cooldown else 0
            seconds = error.retry_after if error.retry_after is not None else BACKOFF[min(strikes, 4)]
            self.store.set_cooldown(account.id, model, max(seconds, 1.0), error.reason or error.status)
            error.retry_after = seconds  # what the client is told if no other account answers
        elif isinstance(error, Banned):  # a Terms of Service ban: out until its owner's appeal succeeds
            log.warning("account %d is banned by Google; its appeal form: %s", account.id, error.appeal_url)
            self.store.update(
                account.id, enabled=0, disabled_reason=f"banned: {error.message}", appeal_url=error.appeal_url
            )
        elif isinstance(error, Forbidden):
            reason = f"{error.status} (403): {error.message}"
            self.store.update(account.id, enabled=0, disabled_reason=f"{reason} {error.link}".strip())
        elif isinstance(error, AuthFailed):
            self.store.set_cooldown(account.id, ACCOUNT_WIDE, AUTH_COOLDOWN, "UNAUTHENTICATED")
        elif error.code == 404 and self.on_not_found is not None:
            self.on_not_found(account, model)

    def geo_blocked(self, account: Account) -> None:
        """Note when Google refused the account's egress region: shown to the operator, never a bench."""
        self.store.update(account.id, last_geo_block=self.store.clock())

    def succeeded(self, account: Account, model: str, snapshot: Snapshot) -> None:
        """Forget past strikes, only when the snapshot it was picked from shows some: no write otherwise."""
        if (account.id, model) in snapshot.cooldowns:
            self.store.clear_cooldown(account.id, model)


def _serves(account: Account, model: str) -> bool:
    """Whether the account's model list (fetchAvailableModels) has the model; no list yet: any model."""
    return not account.models or model in account.models


def _has_quota(account: Account, model: str, now: float) -> bool:
    info = account.models.get(model) or {}
    if info.get("remainingFraction", 1) > 0:
        return True
    try:
        return datetime.fromisoformat(str(info.get("resetTime")).replace("Z", "+00:00")).timestamp() <= now
    except ValueError:
        return False


def _disabled_if_revoked(error: OAuthError) -> dict:
    if isinstance(error, InvalidGrant):
        return {"enabled": 0, "disabled_reason": str(error)}
    return {}
