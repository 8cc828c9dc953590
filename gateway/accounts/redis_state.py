"""Pool state shared by several hosts through Redis; account records stay in each host's SQLite file.

What changes fast and must be seen by every host lives in Redis: cooldowns, access tokens, the refresh
lock, accounts disabled by a failure, usage counters. Keys are by email, since each host numbers its
SQLite rows itself. When Redis is unreachable the host keeps serving from its local SQLite view (every
write goes there too), logs one warning, and tries Redis again a few seconds later.

A process reads the shared state once and keeps that view until a change is announced (redis_changes): a write
that a pick reads is announced before the answer that caused it leaves, so every host's next pick sees it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import replace

import redis

from . import sentinel
from .redis_changes import Changes, announce
from .store import Account, Cooldown, Snapshot, Store, Tally

log = logging.getLogger(__name__)
PREFIX = "gateway:"
RETRY_AFTER = 3.0  # seconds between attempts to reach Redis again once it failed
# The longest this process keeps a view of the shared state while no change is announced: a backstop only
# (announcements make every change visible at the next pick); saves a Redis round trip on nearly every request.
SHARED_VIEW_TTL = 1.0
SEP = "\x1f"


def connect(url: str) -> redis.Redis:
    """A client for the shared Redis (or the master Sentinel names): short timeouts, so an outage costs a request
    half a second, not a hang."""
    timeouts = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    if url.startswith(sentinel.SCHEMES):
        return sentinel.master(url, timeouts)
    return redis.Redis.from_url(url, **timeouts)


class RedisState:
    """A PoolState: Redis for the shared state, the local Store for account records and as the fallback."""

    def __init__(self, url: str, local: Store) -> None:
        self.local = local
        self.redis = connect(url)
        self.changes = Changes(self.redis)
        self.owner = uuid.uuid4().hex  # this process, as holder of refresh locks
        self._down_until = 0.0
        self._view: tuple[Snapshot, float, Snapshot] | None = None  # (local snapshot, read until, merged)

    def __getattr__(self, name: str):
        return getattr(self.local, name)  # account records: upsert, find, remove, path ...

    @property
    def degraded(self) -> bool:
        return self._down_until > time.monotonic()

    @property
    def shared_state(self) -> str:
        """What /healthz reports. Requests may go a second on the last view of Redis, so ask it now."""
        self._shared(lambda r: r.ping())
        return "degraded" if self.degraded else "redis"

    def _shared(self, action, fallback=None):
        """Run a Redis action; on failure serve from the local view for a while instead of failing."""
        if self.degraded:
            return fallback
        try:
            return action(self.redis)
        except redis.RedisError as exc:
            log.warning("Redis unavailable (%s): serving from this host's local state", type(exc).__name__)
            self._down_until = time.monotonic() + RETRY_AFTER
            return fallback

    # ---- reads ----

    def snapshot(self) -> Snapshot:
        local = self.local.snapshot()
        now = time.monotonic()
        # Looked at first, so that an announcement arriving during the read below is seen by the next call.
        quiet = not self.degraded and self.changes.quiet()
        # Any write on this host (every write goes to SQLite too) makes a new local snapshot: read Redis again.
        if quiet and self._view and self._view[0] is local and self._view[1] > now:
            return self._view[2]
        merged = self._merge(local)
        self._view = (local, now + SHARED_VIEW_TTL, merged) if merged is not local else None
        return merged

    def _merge(self, local: Snapshot) -> Snapshot:
        """The local snapshot with what every host shares through Redis; the local one while Redis is down."""
        emails = [a.email for a in local.accounts]

        def read(r: redis.Redis):
            pipe = r.pipeline(transaction=False)
            pipe.hgetall(PREFIX + "cooldowns")
            pipe.hgetall(PREFIX + "disabled")
            pipe.hgetall(PREFIX + "appeals")
            pipe.hgetall(PREFIX + "geo_blocks")
            for email in emails:
                pipe.hmget(PREFIX + "token:" + email, "access_token", "token_expiry")
            return pipe.execute()

        shared = self._shared(read)
        if shared is None:
            return local
        cooldowns_raw, disabled, appeals, geo_blocks, *tokens = shared
        by_email = {a.email: a for a in local.accounts}
        accounts = tuple(
            _answered(_merged(account, token, disabled.get(account.email.encode())), appeals, geo_blocks)
            for account, token in zip(local.accounts, tokens, strict=True)
        )
        cooldowns = dict(local.cooldowns)
        for field, value in cooldowns_raw.items():
            email, _, model = field.decode().partition(SEP)
            if email in by_email:
                data = json.loads(value)
                cooldowns[(by_email[email].id, model)] = Cooldown(data["until"], data["reason"], data["strikes"])
        return Snapshot(accounts, cooldowns)

    def accounts(self) -> tuple[Account, ...]:
        return self.snapshot().accounts

    def get(self, account_id: int) -> Account | None:
        account = self.local.get(account_id)
        if account is None:
            return None
        key = PREFIX + "token:" + account.email
        shared = self._shared(
            lambda r: (r.hmget(key, "access_token", "token_expiry"), r.hget(PREFIX + "disabled", account.email))
        )
        return _merged(account, *shared) if shared else account

    # ---- writes: always local, shared when Redis answers ----

    def update(self, account_id: int, **fields: object) -> None:
        self.local.update(account_id, **fields)
        account = self.local.get(account_id)
        if account is None:
            return

        def write(r: redis.Redis) -> None:
            pipe = r.pipeline()
            if "access_token" in fields:
                key = PREFIX + "token:" + account.email
                pipe.hset(key, mapping={"access_token": account.access_token, "token_expiry": account.token_expiry})
                pipe.expireat(key, int(account.token_expiry) + 1)
            if fields.get("refresh_lock_until") == 0:
                pipe.delete(PREFIX + "lock:" + account.email)
            if "enabled" in fields:
                if account.enabled:
                    pipe.hdel(PREFIX + "disabled", account.email)
                else:
                    pipe.hset(PREFIX + "disabled", account.email, account.disabled_reason or "disabled")
            if "appeal_url" in fields:
                if account.appeal_url:
                    pipe.hset(PREFIX + "appeals", account.email, account.appeal_url)
                else:
                    pipe.hdel(PREFIX + "appeals", account.email)
            if "last_geo_block" in fields:
                pipe.hset(PREFIX + "geo_blocks", account.email, account.last_geo_block)
            pipe.execute()
            if "access_token" in fields or "enabled" in fields:  # what picks read
                announce(r)

        self._shared(write)

    def set_cooldown(self, account_id: int, model: str, seconds: float, reason: str) -> None:
        self.local.set_cooldown(account_id, model, seconds, reason)
        account = self.local.get(account_id)
        field = f"{account.email}{SEP}{model}"

        def write(r: redis.Redis) -> None:
            old = r.hget(PREFIX + "cooldowns", field)
            strikes = json.loads(old)["strikes"] + 1 if old else 1
            value = {"until": self.local.clock() + seconds, "reason": reason, "strikes": strikes}
            r.hset(PREFIX + "cooldowns", field, json.dumps(value))
            announce(r)  # before the 429 that caused it is answered

        self._shared(write)

    def clear_cooldown(self, account_id: int, model: str) -> None:
        self.local.clear_cooldown(account_id, model)
        account = self.local.get(account_id)
        self._shared(lambda r: r.hdel(PREFIX + "cooldowns", f"{account.email}{SEP}{model}") and announce(r))

    def try_lock_refresh(self, account_id: int, seconds: float) -> bool:
        """One refresh per account across every host: SET NX with an expiry, so a dead holder's lock lapses."""
        account = self.local.get(account_id)
        key = PREFIX + "lock:" + account.email
        # redis-py answers None when NX finds the key taken: map it to False, keep None for "Redis is down".
        taken = self._shared(lambda r: bool(r.set(key, self.owner, nx=True, px=int(seconds * 1000))))
        return self.local.try_lock_refresh(account_id, seconds) if taken is None else taken

    def add_usage(self, tallies: dict[tuple[int, str], Tally]) -> None:
        emails = {a.id: a.email for a in self.local.accounts()}

        def write(r: redis.Redis) -> None:
            pipe = r.pipeline(transaction=False)
            for (account_id, model), tally in tallies.items():
                if account_id not in emails:
                    continue
                key = f"{PREFIX}usage:{emails[account_id]}{SEP}{model}"
                pipe.hincrby(key, "requests", tally.requests)
                pipe.hincrby(key, "tokens_in", tally.tokens_in)
                pipe.hincrby(key, "tokens_out", tally.tokens_out)
                for status, count in tally.failures.items():
                    pipe.hincrby(key, f"failures:{status}", count)
                if tally.last_error:
                    pipe.hset(key, "last_error", tally.last_error)
            pipe.execute()

        if self._shared(write, fallback=False) is False:
            self.local.add_usage(tallies)

    def usage(self) -> list[dict]:
        """Usage rows as `accounts list` reads them: summed over every host."""
        emails = {a.email: a.id for a in self.local.accounts()}

        def read(r: redis.Redis) -> list[dict]:
            rows = []
            for key in r.scan_iter(match=PREFIX + "usage:*", count=500):
                email, _, model = key.decode().removeprefix(PREFIX + "usage:").partition(SEP)
                if email not in emails:
                    continue
                data = {k.decode(): v.decode() for k, v in r.hgetall(key).items()}
                failures = {k.split(":", 1)[1]: int(v) for k, v in data.items() if k.startswith("failures:")}
                rows.append(
                    {
                        "account_id": emails[email],
                        "model": model,
                        "requests": int(data.get("requests", 0)),
                        "failures": json.dumps(failures),
                        "tokens_in": int(data.get("tokens_in", 0)),
                        "tokens_out": int(data.get("tokens_out", 0)),
                        "last_error": data.get("last_error", ""),
                    }
                )
            return rows

        shared = self._shared(read)
        return shared if shared is not None else [dict(row) for row in self.local.usage()]


def _answered(account: Account, appeals: dict, geo_blocks: dict) -> Account:
    """The record with a ban's appeal link and the last geo-block that another host may have seen."""
    appeal, geo_block = appeals.get(account.email.encode()), geo_blocks.get(account.email.encode())
    if appeal is not None and not account.enabled:
        account = replace(account, appeal_url=appeal.decode())
    if geo_block is not None and float(geo_block) > account.last_geo_block:
        account = replace(account, last_geo_block=float(geo_block))
    return account


def _merged(account: Account, token: list | tuple | None, disabled: bytes | None) -> Account:
    """The local record, with the token and the disabling that other hosts may have written."""
    access, expiry = token or (None, None)
    if access and float(expiry) > account.token_expiry:
        account = replace(account, access_token=access.decode(), token_expiry=float(expiry))
    if disabled is not None and account.enabled:
        account = replace(account, enabled=False, disabled_reason=disabled.decode())
    return account
