"""Account choice in-process: stickiness, spread, what moves when an account cools, and its cost."""

import time
from collections import Counter

import pytest

from gateway.accounts.pool import Pool, fingerprint
from gateway.accounts.store import Snapshot, Store
from gateway.errors import GatewayError

MODEL = "gemini-2.5-flash"


def pool_of(tmp_path, count: int) -> Pool:
    store = Store(tmp_path / "gateway.db")
    for n in range(count):
        store.upsert(f"user{n}@example.com", f"rt-{n}", project="p", access_token="t", token_expiry=time.time() + 3600)
    return Pool(store, egresses=None)


def session(n: int) -> str:
    return fingerprint({"contents": [{"role": "user", "parts": [{"text": f"conversation number {n}"}]}]})


def owners(pool: Pool, sessions: range) -> dict[int, str]:
    return {n: pool.pick(MODEL, session(n), set())[0].email for n in sessions}


def test_a_conversation_keeps_its_account(tmp_path):
    pool = pool_of(tmp_path, 5)
    assert owners(pool, range(50)) == owners(pool, range(50))


def test_conversations_spread_evenly(tmp_path):
    shares = Counter(owners(pool_of(tmp_path, 4), range(2000)).values())
    assert len(shares) == 4 and min(shares.values()) > 2000 / 4 * 0.7, shares


def test_only_the_cooled_accounts_conversations_move_and_they_spread(tmp_path):
    pool = pool_of(tmp_path, 6)
    before = owners(pool, range(600))
    cooled = pool.store.find(before[0])
    pool.store.set_cooldown(cooled.id, MODEL, 60, "RESOURCE_EXHAUSTED")
    after = owners(pool, range(600))
    moved = {n for n in before if before[n] != after[n]}
    assert moved == {n for n in before if before[n] == cooled.email}
    assert len({after[n] for n in moved}) >= 3  # not all piled onto one neighbour


def test_tried_accounts_are_skipped(tmp_path):
    pool = pool_of(tmp_path, 3)
    first = pool.pick(MODEL, session(1), set())[0]
    second = pool.pick(MODEL, session(1), {(first.id, MODEL)})[0]
    third = pool.pick(MODEL, session(1), {(first.id, MODEL), (second.id, MODEL)})[0]
    assert len({first.id, second.id, third.id}) == 3
    with pytest.raises(GatewayError) as caught:
        pool.pick(MODEL, session(1), {(first.id, MODEL), (second.id, MODEL), (third.id, MODEL)})
    assert caught.value.code == 503


def test_without_a_conversation_accounts_take_turns(tmp_path):
    pool = pool_of(tmp_path, 3)
    pool.store.update(pool.store.find("user1@example.com").id, enabled=0)
    turns = [pool.pick(MODEL, None, set())[0].email for _ in range(6)]
    assert Counter(turns) == {"user0@example.com": 3, "user2@example.com": 3}


def test_an_account_with_its_quota_used_up_goes_last(tmp_path):
    pool = pool_of(tmp_path, 2)
    usual = pool.pick(MODEL, session(7), set())[0]
    spent = {MODEL: {"remainingFraction": 0, "resetTime": "2999-01-01T00:00:00Z"}}
    pool.store.update(usual.id, models=spent)
    assert pool.pick(MODEL, session(7), set())[0].id != usual.id
    other = next(a for a in pool.store.accounts() if a.id != usual.id)
    pool.store.set_cooldown(other.id, MODEL, 60, "RESOURCE_EXHAUSTED")
    assert pool.pick(MODEL, session(7), set())[0].id == usual.id  # better than nothing


def test_all_cooling_is_a_429_with_the_wait(tmp_path):
    pool = pool_of(tmp_path, 2)
    for account in pool.store.accounts():
        pool.store.set_cooldown(account.id, MODEL, 30 + account.id, "RESOURCE_EXHAUSTED")
    with pytest.raises(GatewayError) as caught:
        pool.pick(MODEL, session(1), set())
    assert caught.value.code == 429 and "ready in 3" in caught.value.message


@pytest.mark.parametrize("sticky", [True, False])
def test_choosing_looks_at_a_few_accounts_not_all(tmp_path, monkeypatch, sticky):
    # Per-request work must not grow with the pool: count the accounts whose cooldowns are looked at.
    pool = pool_of(tmp_path, 200)
    looked = Counter()
    cooling = Snapshot.cooling
    monkeypatch.setattr(Snapshot, "cooling", lambda self, a, m, now: looked.update([1]) or cooling(self, a, m, now))
    for n in range(100):
        pool.pick(MODEL, session(n) if sticky else None, set())
    assert looked[1] == 100


def test_an_account_is_picked_only_for_the_models_it_lists(tmp_path):
    pool = pool_of(tmp_path, 3)
    lister = pool.store.find("user1@example.com")
    pool.store.update(lister.id, models={MODEL: {}})
    pool.store.update(pool.store.find("user2@example.com").id, models={"gemini-2.5-pro": {}})
    picked = {pool.pick(MODEL, session(n), set())[0].email for n in range(40)}
    assert picked == {"user0@example.com", "user1@example.com"}  # user0 has no list yet: it serves any model
    pool.store.update(pool.store.find("user0@example.com").id, models={"gemini-2.5-pro": {}})
    with pytest.raises(GatewayError) as refused:
        pool.pick("gemini-3-pro-high", session(1), set())
    assert refused.value.code == 404 and "gemini-3-pro-high" in refused.value.message
    assert "none of its 3 enabled accounts" in refused.value.message
