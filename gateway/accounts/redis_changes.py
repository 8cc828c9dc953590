"""Announcing changes of the shared pool state to every process on every host, before the answer leaves.

Each process keeps its merged view of Redis (redis_state.RedisState) between requests, so a pick costs no round
trip. A process that writes something a pick reads (a cooldown, a disabling, a token) publishes on CHANNEL; every
process listens on its own subscribed connection and, before each pick, looks without waiting whether anything
arrived (a poll of that socket, ~10 µs): if so, it reads Redis again.

Why pub/sub rather than redis-py's client-side caching: the view is one pipeline of several reads merged into
one Snapshot; what a pick needs to know is only "did anything change", which one message per write says.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import redis

log = logging.getLogger(__name__)
CHANNEL = "gateway:changed"


def announce(r: redis.Redis) -> None:
    """Tell every listener the shared state changed; returns once each listener's socket holds the message.

    Redis writes everything one command queued (replies and pub/sub messages) before it reads the next command,
    so the answer to a PING sent after PUBLISH answered proves every subscriber's copy was written out: an
    answer this process sends after it cannot reach a client, and that client another host, before the news.
    """
    r.publish(CHANNEL, b"")
    r.ping()


class Changes:
    """One process's subscription: `quiet()` says whether a view read earlier may still be used."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._pubsub: redis.client.PubSub | None = None
        self._lock = threading.Lock()  # one greenlet at a time on the subscribed socket

    def quiet(self) -> bool:
        """True when nothing was announced since the last call and the subscription held all along."""
        if not self._lock.acquire(blocking=False):
            return False  # another greenlet is (re)subscribing: read Redis rather than wait
        try:
            return self._drain()
        except redis.RedisError as exc:
            log.info("lost the subscription to %s (%s): views are read again", CHANNEL, type(exc).__name__)
            self.close()
            return False
        finally:
            self._lock.release()

    def _drain(self) -> bool:
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
            self._pubsub.subscribe(CHANNEL)
            return False  # whatever was announced before the subscription was missed
        quiet = True
        # Every message counts, the subscription's own confirmation too: redis-py resubscribes by itself after
        # a reconnection, and what was announced in between was missed.
        while self._pubsub.get_message(timeout=0) is not None:
            quiet = False
        return quiet

    def close(self) -> None:
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            with contextlib.suppress(redis.RedisError):  # it is being thrown away
                pubsub.close()
