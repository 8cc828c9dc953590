"""Redis mode reads the shared state once a second per process, and this host's own writes at once."""

import redis

from gateway.accounts import redis_state
from gateway.accounts.redis_state import RedisState
from gateway.accounts.store import Store


def test_other_hosts_changes_are_seen_within_the_view_ttl_own_changes_at_once(redis_server, tmp_path, monkeypatch):
    redis.Redis.from_url(redis_server.url).flushdb()
    clock = [1000.0]
    monkeypatch.setattr(redis_state.time, "monotonic", lambda: clock[0])
    here, there = (RedisState(redis_server.url, Store(tmp_path / f"{name}.db")) for name in ("here", "there"))
    for host in (here, there):
        host.local.upsert("a@example.com", "rt-a", project="p")
    account = here.local.accounts()[0]

    first = here.snapshot()
    assert here.snapshot() is first  # no Redis round trip while the view is fresh

    there.set_cooldown(there.local.accounts()[0].id, "gemini-2.5-flash", 60, "429 elsewhere")
    assert not here.snapshot().cooldowns  # another host's change: not yet
    clock[0] += redis_state.SHARED_VIEW_TTL + 0.1
    assert (account.id, "gemini-2.5-flash") in here.snapshot().cooldowns

    here.set_cooldown(account.id, "gemini-2.5-pro", 60, "429 here")
    assert (account.id, "gemini-2.5-pro") in here.snapshot().cooldowns  # our own: at once
