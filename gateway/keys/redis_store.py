"""Team keys and their counters in Redis, for several gateway hosts: a key made or revoked on one host,
and every hit and token counted there, hold on all of them."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, replace

import redis

from ..accounts.redis_state import connect
from ..clock import SYSTEM_CLOCK, Clock
from .store import KeyTally, NameTaken, TeamKey

PREFIX = "gateway:teamkeys:"
USAGE_TTL = 3 * 86400  # a day's usage is read today and (for `list` near midnight) tomorrow, then forgotten
# Count one hit unless `limit` are in the window, as one atomic step: two hosts never both pass the last slot.
TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[2] * 1000) + 1000)
return false
"""
# Claim the name and store the key in one step: a crash in between must not leave a name without a key.
CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


class RedisKeyStore:
    errors = (redis.RedisError,)

    def __init__(self, url: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.redis = connect(url)
        self.clock = clock
        self._take_slot = self.redis.register_script(TAKE_SLOT)
        self._create = self.redis.register_script(CREATE)

    def create(self, key: TeamKey) -> TeamKey:
        key = replace(key, id=int(self.redis.incr(PREFIX + "next")))
        record = json.dumps({k: v for k, v in asdict(key).items() if k not in ("id", "last_used")})
        if not self._create(keys=[PREFIX + "names", PREFIX + "all"], args=[key.name, key.id, record]):
            raise NameTaken(key.name)
        return key

    def all_keys(self) -> tuple[TeamKey, ...]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(PREFIX + "all")
        pipe.hgetall(PREFIX + "last_used")
        records, last_used = pipe.execute()
        keys = []
        for key_id, raw in records.items():
            record = json.loads(raw)
            record["models"] = tuple(record["models"])
            keys.append(TeamKey(id=int(key_id), last_used=float(last_used.get(key_id, 0)), **record))
        return tuple(sorted(keys, key=lambda k: k.id))

    def revoke(self, key_id: int) -> None:
        raw = self.redis.hget(PREFIX + "all", str(key_id))
        if raw is None:
            return
        pipe = self.redis.pipeline()
        pipe.hdel(PREFIX + "all", str(key_id))
        pipe.hdel(PREFIX + "names", json.loads(raw)["name"])
        pipe.hdel(PREFIX + "last_used", str(key_id))
        pipe.delete(f"{PREFIX}hits:{key_id}")
        pipe.execute()

    def take_slot(self, key_id: int, now: float, window: float, limit: int) -> float | None:
        oldest = self._take_slot(keys=[f"{PREFIX}hits:{key_id}"], args=[now, window, limit, uuid.uuid4().hex])
        return None if oldest is None else float(oldest)

    def tokens_on(self, key_id: int, day: str) -> int:
        counts = self.redis.hmget(f"{PREFIX}usage:{key_id}:{day}", "tokens_in", "tokens_out")
        return sum(int(count or 0) for count in counts)

    def add_usage(self, tallies: dict[tuple[int, str], KeyTally]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for (key_id, day), tally in tallies.items():
            usage = f"{PREFIX}usage:{key_id}:{day}"
            for name in ("requests", "tokens_in", "tokens_out"):
                pipe.hincrby(usage, name, getattr(tally, name))
            pipe.expire(usage, USAGE_TTL)
            pipe.hset(PREFIX + "last_used", str(key_id), tally.last_used)
        pipe.execute()

    def usage_on(self, day: str) -> dict[int, dict[str, int]]:
        ids = [int(key_id) for key_id in self.redis.hkeys(PREFIX + "all")]
        pipe = self.redis.pipeline(transaction=False)
        for key_id in ids:
            pipe.hgetall(f"{PREFIX}usage:{key_id}:{day}")
        return {
            key_id: {name: int(counts.get(name.encode(), 0)) for name in ("requests", "tokens_in", "tokens_out")}
            for key_id, counts in zip(ids, pipe.execute(), strict=True)
        }
