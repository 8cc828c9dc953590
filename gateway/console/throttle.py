"""Login throttling: after LIMIT failed logins from one client address within WINDOW seconds, that address
is refused (429 with Retry-After) until its oldest failure of the window has aged out.

Failures are counted where the activity log lives (this host's activity file, or Redis when hosts share
state), so every worker, and with Redis every host, counts the same attempts: a guesser spreading tries
over workers gains nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import secrets
from pathlib import Path
from typing import Protocol

from flask import request

from ..accounts.redis_state import connect
from ..activity import FAILURES
from ..clock import Clock
from ..localdb import LocalDb

log = logging.getLogger(__name__)
LIMIT = 5
WINDOW = 600  # seconds


class Failures(Protocol):
    clock: Clock

    def add(self, address: str, at: float) -> None:
        """Count one failed login from `address` at `at`."""

    def since(self, address: str, since: float) -> list[float]:
        """When `address` failed, after `since`."""

    def clear(self, address: str) -> None:
        """Forget `address`'s failures (it logged in)."""


class LoginThrottle:
    def __init__(self, failures: Failures) -> None:
        self.failures = failures

    def retry_after(self, address: str) -> int:
        """Seconds until `address` may try again; 0 when it may now."""
        now = self.failures.clock()
        recent = sorted(self._safely(lambda: self.failures.since(address, now - WINDOW)) or ())
        if len(recent) < LIMIT:
            return 0
        return max(1, math.ceil(recent[-LIMIT] + WINDOW - now))

    def failed(self, address: str) -> None:
        log.warning("failed console login from %s", address, extra={"fields": {"client": address}})
        self._safely(lambda: self.failures.add(address, self.failures.clock()))

    def succeeded(self, address: str) -> None:
        """A login with the admin key: what that address got wrong before no longer counts."""
        self._safely(lambda: self.failures.clear(address))

    @staticmethod
    def _safely(action):
        """A store that cannot be read or written (disk full, Redis gone) leaves logins unthrottled rather
        than locking the operator out of the console."""
        try:
            return action()
        except FAILURES as exc:
            log.warning("could not count failed console logins: %s", exc)
            return None


def client_address(forwarded_allow_ips: str) -> str:
    """The client's address: the peer's, or, when the peer is a proxy of GATEWAY_FORWARDED_ALLOW_IPS, the
    last X-Forwarded-For entry not itself such a proxy (each proxy appends the address it saw; entries left
    of a proxy we do not trust may be forged by the client)."""
    address = request.remote_addr or ""
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    while hops and _trusted(address, forwarded_allow_ips):
        address = hops.pop()
    return address


def _trusted(address: str, networks: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for part in (p.strip() for p in networks.split(",")):
        if part == "*" or (part and ip in ipaddress.ip_network(part, strict=False)):
            return True
    return False


SCHEMA = "CREATE TABLE IF NOT EXISTS login_failures (address TEXT NOT NULL, at REAL NOT NULL);"


class SqliteFailures:
    """In this host's activity file, shared by its workers."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.db = LocalDb(path, SCHEMA)
        self.clock = clock

    def add(self, address: str, at: float) -> None:
        self.db.write(
            ("INSERT INTO login_failures VALUES (?, ?)", (address, at)),
            ("DELETE FROM login_failures WHERE at < ?", (at - WINDOW,)),
        )

    def since(self, address: str, since: float) -> list[float]:
        rows = self.db.conn.execute("SELECT at FROM login_failures WHERE address = ? AND at > ?", (address, since))
        return [row[0] for row in rows]

    def clear(self, address: str) -> None:
        self.db.write(("DELETE FROM login_failures WHERE address = ?", (address,)))


class RedisFailures:
    """A sorted set of failure times per address, expiring with the window, seen by every host."""

    def __init__(self, url: str, clock: Clock, prefix: str = "gateway:login-failures:") -> None:
        self.redis = connect(url)
        self.clock = clock
        self.prefix = prefix

    def add(self, address: str, at: float) -> None:
        key = self.prefix + address
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(key, {f"{at!r}:{secrets.token_hex(6)}": at})  # two failures in one instant: two members
        pipe.zremrangebyscore(key, "-inf", at - WINDOW)
        pipe.expire(key, WINDOW)
        pipe.execute()

    def since(self, address: str, since: float) -> list[float]:
        return [
            score
            for _, score in self.redis.zrangebyscore(self.prefix + address, f"({since!r}", "+inf", withscores=True)
        ]

    def clear(self, address: str) -> None:
        self.redis.delete(self.prefix + address)
