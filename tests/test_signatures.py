"""The memory of relayed thought signatures: keys, gathering from events, SQLite and Redis storage."""

import time

import pytest
import redis

from gateway.accounts import signatures
from gateway.accounts.redis_state import RedisState
from gateway.accounts.signatures import RedisSignatures, Relayed, SqliteSignatures, call_key
from gateway.accounts.store import Store
from tests.conftest import free_port


def call(args: object, name: str = "get_weather") -> dict:
    return {"name": name, "args": args}


@pytest.mark.parametrize(
    ("sent", "replayed"),
    [
        ({"days": 3}, {"days": 3.0}),  # google-generativeai's proto Struct holds doubles
        ({"a": 1, "b": "x"}, {"b": "x", "a": 1}),
        ({"trip": {"legs": [{"km": 12, "ok": True}, None]}}, {"trip": {"legs": [{"ok": True, "km": 12.0}, None]}}),
        ({"big": 1e20}, {"big": 100000000000000000000}),
        ({}, None),  # a call without arguments, replayed with or without `args`
    ],
)
def test_a_replayed_call_has_the_key_of_the_call_relayed(sent, replayed):
    assert call_key("s1", call(sent)) == call_key("s1", call(replayed))


@pytest.mark.parametrize(
    "other",
    [
        call({"days": 4}),
        call({"days": "3"}),
        call({"days": True}),  # JSON true is no number, even though Python's True == 1
        call({"days": 3.5}),
        call({"days": [3]}),
        call({"days": 3}, name="get_forecast"),
    ],
)
def test_any_other_call_has_another_key(other):
    assert call_key("s1", call({"days": 3})) != call_key("s1", other)


def test_the_same_call_in_another_conversation_has_another_key():
    assert call_key("s1", call({"days": 3})) != call_key("s2", call({"days": 3}))


def test_keys_survive_odd_json():
    for args in ({"n": float("nan")}, {"n": float("inf")}, {"n": 10**400}, {"t": "\ud800 lone surrogate"}):
        assert len(call_key("s", call(args))) == 32


def event(*parts: dict) -> dict:
    return {"candidates": [{"content": {"role": "model", "parts": list(parts)}}]}


def test_relayed_gathers_the_signatures_of_function_calls_as_events_pass():
    events = [
        event({"text": "thinking", "thought": True, "thoughtSignature": "on-text"}),
        event({"functionCall": call({"city": "Oslo"}), "thoughtSignature": "sig-1"}, {"functionCall": call({})}),
        {"usageMetadata": {"totalTokenCount": 3}},
    ]
    relayed = Relayed("s1")
    assert list(relayed.watch(iter(events))) == events
    assert relayed.found == {call_key("s1", call({"city": "Oslo"})): "sig-1"}


def test_events_of_another_shape_pass_and_teach_nothing():
    odd = [{"candidates": ["text"]}, {"candidates": [{"content": {"parts": ["x", {"functionCall": "f"}]}}]}, {}]
    relayed = Relayed("s1")
    assert list(relayed.watch(iter(odd))) == odd
    assert relayed.found == {}


def test_conversations_without_a_fingerprint_share_one_space_keyed_by_the_call():
    relayed = Relayed(None)
    list(relayed.watch(iter([event({"functionCall": call({"city": "Oslo"}), "thoughtSignature": "sig"})])))
    assert relayed.found == {call_key(None, call({"city": "Oslo"})): "sig"}
    assert call_key(None, call({"city": "Oslo"})) != call_key("", call({"city": "Oslo"}))


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "gateway.db")


def test_sqlite_signatures_are_shared_by_every_connection_to_the_database(store):
    SqliteSignatures(store).remember({"k1": "sig-1", "k2": "sig-2"})
    other_worker = SqliteSignatures(Store(store.path))
    assert other_worker.recall(["k1", "k2", "k3"]) == {"k1": "sig-1", "k2": "sig-2"}
    assert other_worker.recall([]) == {}


def test_sqlite_signatures_expire(store):
    memory = SqliteSignatures(store, ttl=0.3)
    memory.remember({"old": "sig"})
    assert memory.recall(["old"]) == {"old": "sig"}
    time.sleep(0.4)
    assert memory.recall(["old"]) == {}
    memory.remember({"new": "sig"})  # writing sweeps expired rows out
    assert [row[0] for row in store.conn.execute("SELECT key FROM thought_signatures")] == ["new"]


def test_sqlite_signatures_keep_the_newest_up_to_the_limit(store):
    memory = SqliteSignatures(store, limit=3)
    for n in range(5):
        memory.remember({f"k{n}": f"sig-{n}"})
    memory.remember({"k2": "sig-2b"})  # a signature written again counts as new
    assert memory.recall([f"k{n}" for n in range(5)]) == {"k2": "sig-2b", "k3": "sig-3", "k4": "sig-4"}


def test_sqlite_recall_of_a_long_history_is_read_in_chunks(store):
    memory = SqliteSignatures(store)
    many = {f"k{n}": f"sig-{n}" for n in range(signatures.CHUNK * 2 + 7)}
    memory.remember(many)
    assert memory.recall(list(many)) == many


def test_a_full_disk_loses_signatures_but_never_fails(store, caplog):
    memory = SqliteSignatures(store)
    memory.remember({"kept": "sig"})
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # what SQLite answers on a full disk
    memory.remember({f"lost-{n}": "x" * 1000 for n in range(100)})
    assert "could not remember thought signatures: database or disk is full" in caplog.text
    assert memory.recall(["kept", "lost-0"]) == {"kept": "sig"}
    assert not store.conn.in_transaction  # rolled back: the store's own writes go on


@pytest.fixture
def shared_state(redis_server, tmp_path) -> RedisState:
    redis.Redis.from_url(redis_server.url).flushdb()
    return RedisState(redis_server.url, Store(tmp_path / "gateway.db"))


def test_redis_signatures_are_shared_and_expire_by_themselves(shared_state, redis_server, tmp_path):
    RedisSignatures(shared_state, ttl=60).remember({"k1": "sig-1"})
    other_host = RedisSignatures(RedisState(redis_server.url, Store(tmp_path / "b.db")))
    assert other_host.recall(["k1", "k2"]) == {"k1": "sig-1"}
    assert 0 < shared_state.redis.ttl(RedisSignatures.PREFIX + "k1") <= 60


def test_redis_signatures_keep_the_newest_up_to_the_limit(shared_state):
    memory = RedisSignatures(shared_state, limit=2)
    for n in range(4):
        memory.remember({f"k{n}": f"sig-{n}"})
    assert memory.recall([f"k{n}" for n in range(4)]) == {"k2": "sig-2", "k3": "sig-3"}
    assert shared_state.redis.zcard(RedisSignatures.INDEX) == 2
    assert len(shared_state.redis.keys(RedisSignatures.PREFIX + "*")) == 2


def test_redis_unreachable_means_no_signature_known_and_no_error(tmp_path):
    state = RedisState(f"redis://127.0.0.1:{free_port()}/0", Store(tmp_path / "gateway.db"))
    memory = RedisSignatures(state)
    memory.remember({"k": "sig"})
    assert memory.recall(["k"]) == {}
    assert state.shared_state == "degraded"
