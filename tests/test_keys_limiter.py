"""The team key limiter on a real SQLite file and a real Redis, with an injected clock: window edges and the UTC
day. Every moment is relative to today: the suite must pass on any date."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from gateway.accounts.store import Store
from gateway.errors import GatewayError
from gateway.keys.gate import Keys
from gateway.keys.limiter import Limiter, seconds_to_next_day, utc_day
from gateway.keys.manage import issue
from gateway.keys.redis_store import RedisKeyStore
from gateway.keys.store import KeyStore, KeyTally, NameTaken

MIDNIGHT = datetime.fromtimestamp(time.time(), UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START = (MIDNIGHT + timedelta(hours=12)).timestamp()  # noon UTC today


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock) -> KeyStore:
    return KeyStore(Store(tmp_path / "gateway.db", clock))


@pytest.fixture(params=["sqlite", "redis"])
def counters(request, tmp_path, clock):
    """Both places keys and counters live: the SQLite file, or a real redis-server; both count by `clock`."""
    if request.param == "sqlite":
        return KeyStore(Store(tmp_path / "gateway.db", clock))
    server = request.getfixturevalue("redis_server")
    redis.Redis.from_url(server.url).flushdb()
    return RedisKeyStore(server.url, clock)


def refused(limiter: Limiter, key) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        limiter.admit(key)
    return caught.value


def test_the_window_slides_one_request_at_a_time(counters, clock):
    key, _ = issue(counters, "app", rpm=3)
    limiter = Limiter(counters)
    for offset in (0, 10, 20):
        clock.now = START + offset
        limiter.admit(key)
    clock.now = START + 30
    error = refused(limiter, key)
    assert error.code == 429 and error.status == "RESOURCE_EXHAUSTED"
    assert "3 requests per minute" in error.message and "'app'" in error.message
    assert error.headers["Retry-After"] == "30"  # the request at 0 leaves the window at 60
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"} in error.details
    clock.now = START + 59.9
    assert refused(limiter, key).headers["Retry-After"] == "1"
    clock.now = START + 60  # exactly 60 s later the first request no longer counts
    limiter.admit(key)
    clock.now = START + 60.5
    assert refused(limiter, key).headers["Retry-After"] == "10"  # now the one at 10 is the oldest


def test_refused_requests_take_no_slot(counters, clock):
    key, _ = issue(counters, "app", rpm=1)
    limiter = Limiter(counters)
    limiter.admit(key)
    for offset in (1, 30, 59):
        clock.now = START + offset
        refused(limiter, key)
    clock.now = START + 60
    limiter.admit(key)  # the refusals in between did not push the window on


def test_two_connections_share_one_window(store, tmp_path, clock):
    key, _ = issue(store, "app", rpm=2)
    other = KeyStore(Store(tmp_path / "gateway.db", clock))  # another worker: its own connection to the file
    Limiter(store).admit(key)
    Limiter(other).admit(key)
    assert refused(Limiter(store), key).code == 429
    assert refused(Limiter(other), key).code == 429


def test_keys_count_apart(counters):
    first, _ = issue(counters, "first", rpm=1)
    second, _ = issue(counters, "second", rpm=1)
    limiter = Limiter(counters)
    limiter.admit(first)
    limiter.admit(second)
    refused(limiter, first)


def test_daily_tokens_end_at_utc_midnight(counters, clock):
    key, _ = issue(counters, "app", daily_tokens=100)
    late = (MIDNIGHT + timedelta(days=1)).timestamp() - 10  # 23:59:50 UTC today
    clock.now = late
    limiter = Limiter(counters)
    limiter.admit(key)
    counters.add_usage({(key.id, utc_day(late)): KeyTally(requests=1, tokens_in=60, tokens_out=39)})
    limiter.admit(key)  # 99 used: still under
    counters.add_usage({(key.id, utc_day(late)): KeyTally(requests=1, tokens_in=0, tokens_out=1)})
    error = refused(limiter, key)
    assert error.code == 429 and "100 tokens" in error.message
    assert error.headers["Retry-After"] == "10"
    clock.now = late + 10  # 00:00:00 UTC: a new day, nothing used yet
    assert utc_day(clock.now) == (MIDNIGHT + timedelta(days=1)).date().isoformat()
    limiter.admit(key)


@pytest.mark.parametrize("days_ahead", [0, 400, 4000])
def test_usage_is_pruned_by_the_stores_clock(tmp_path, days_ahead):
    """Days before yesterday go, by the store's own clock: written at any date, today's usage stays."""
    clock = Clock(START + days_ahead * 86400)
    store = KeyStore(Store(tmp_path / "gateway.db", clock))
    key, _ = issue(store, "app", daily_tokens=100)
    day = datetime.fromtimestamp(clock.now, UTC).date()
    days = [(day - timedelta(days=n)).isoformat() for n in (0, 1, 2, 30)]
    store.add_usage({(key.id, d): KeyTally(requests=1, tokens_in=n + 1) for n, d in enumerate(days)})
    assert [store.tokens_on(key.id, d) for d in days] == [1, 2, 0, 0]
    assert Keys(store).usage.clock is clock  # what a request counts on is the day the store prunes by


def test_tokens_not_yet_written_count_too(store):
    key, _ = issue(store, "app", daily_tokens=10)
    limiter = Limiter(store)
    limiter.admit(key, pending_tokens=9)
    with pytest.raises(GatewayError):
        limiter.admit(key, pending_tokens=10)


def test_seconds_to_next_day():
    year_end = datetime(MIDNIGHT.year, 12, 31, 23, 0, tzinfo=UTC).timestamp()  # across a year's turn
    assert seconds_to_next_day(year_end) == 3600
    assert seconds_to_next_day(MIDNIGHT.timestamp()) == 86400
    assert seconds_to_next_day(START) == 12 * 3600


def test_a_key_without_limits_touches_no_counter(store, tmp_path):
    key, _ = issue(store, "free")
    store.conn.execute("DROP TABLE team_key_hits")  # any read or write of the counters would now fail
    Limiter(store).admit(key)


@pytest.mark.parametrize(
    ("patterns", "model", "allowed"),
    [
        ((), "gemini-3-pro-preview", True),
        (("gemini-2.5-*",), "gemini-2.5-flash", True),
        (("gemini-2.5-*",), "gemini-2.0-flash", False),
        (("gemini-2.5-*", "claude-*"), "claude-sonnet-4-6", True),
        (("gemini-2.5-flash",), "gemini-2.5-flash-lite", False),
    ],
)
def test_model_patterns_are_globs(store, patterns, model, allowed):
    key, _ = issue(store, "app", models=patterns)
    assert key.allows(model) is allowed


@pytest.mark.parametrize("name", ["admin", "", "has space", "x" * 65, "semi;colon"])
def test_bad_names_are_refused(store, name):
    with pytest.raises(ValueError):
        issue(store, name)


def test_the_secret_is_stored_only_as_a_hash(store, tmp_path):
    key, secret = issue(store, "app")
    assert secret.startswith("gk-") and key.prefix == secret[:8] and len(secret) > 40
    for file in tmp_path.glob("gateway.db*"):  # the file and its WAL
        assert secret.encode() not in file.read_bytes()
    assert store.all_keys()[0].hash == key.hash


def test_names_are_unique_until_revoked(counters):
    first, _ = issue(counters, "app")
    with pytest.raises(NameTaken):
        issue(counters, "app")
    counters.revoke(first.id)
    again, _ = issue(counters, "app", models=("gemini-*",))
    assert [(k.name, k.id, k.models) for k in counters.all_keys()] == [("app", again.id, ("gemini-*",))]
