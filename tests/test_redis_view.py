"""Redis mode keeps its view of the shared state until a change is announced, and sees announced ones at once."""

import redis

from gateway.accounts.redis_state import RedisState
from gateway.accounts.store import Store


def test_a_view_is_kept_while_nothing_changes_and_read_again_after_a_change(redis_server, tmp_path):
    redis.Redis.from_url(redis_server.url).flushdb()
    here, there = (RedisState(redis_server.url, Store(tmp_path / f"{name}.db")) for name in ("here", "there"))
    for host in (here, there):
        host.local.upsert("a@example.com", "rt-a", project="p")
    account = here.local.accounts()[0]

    here.snapshot()  # subscribes: what was announced before it was missed, so the next read is fresh
    first = here.snapshot()
    assert here.snapshot() is first  # no Redis round trip while nothing changes

    there.set_cooldown(there.local.accounts()[0].id, "gemini-2.5-flash", 60, "429 elsewhere")
    assert (account.id, "gemini-2.5-flash") in here.snapshot().cooldowns  # another host's change: at once
    assert here.snapshot() is here.snapshot()

    there.update(there.local.accounts()[0].id, enabled=0, disabled_reason="revoked elsewhere")
    assert not here.snapshot().accounts[0].enabled

    here.set_cooldown(account.id, "gemini-2.5-pro", 60, "429 here")
    assert (account.id, "gemini-2.5-pro") in here.snapshot().cooldowns  # our own: at once
