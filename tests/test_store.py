"""The SQLite store: snapshots shared across connections, cooldowns, refresh locks."""

import subprocess
import sys
import time

from gateway.accounts.store import Store, Tally


def test_snapshot_sees_other_connections_commits(tmp_path):
    mine, theirs = Store(tmp_path / "db"), Store(tmp_path / "db")
    assert mine.snapshot().accounts == ()
    account = theirs.upsert("a@example.com", "rt")
    assert [a.email for a in mine.snapshot().accounts] == ["a@example.com"]
    theirs.set_cooldown(account.id, "m", 30, "RATE_LIMIT_EXCEEDED")
    cooldown = mine.snapshot().cooldowns[(account.id, "m")]
    assert cooldown.strikes == 1 and 29 < cooldown.until - time.time() <= 30
    theirs.set_cooldown(account.id, "m", 30, "RATE_LIMIT_EXCEEDED")
    assert mine.snapshot().cooldowns[(account.id, "m")].strikes == 2
    snapshot = mine.snapshot()
    assert mine.snapshot() is snapshot  # nothing changed: no reload


def test_writes_beside_the_pool_do_not_reload_its_snapshot(tmp_path):
    mine, theirs = Store(tmp_path / "db"), Store(tmp_path / "db")
    account = theirs.upsert("a@example.com", "rt")
    snapshot = mine.snapshot()
    theirs.add_usage({(account.id, "m"): Tally(requests=1)})  # usage, key hits, signatures: not the pool's
    theirs.conn.execute("CREATE TABLE beside (x)")
    theirs.conn.execute("INSERT INTO beside VALUES (1)")
    assert mine.snapshot() is snapshot
    mine.update(account.id, tier="standard-tier")  # our own write to the pool's tables: seen at once
    assert mine.snapshot().accounts[0].tier == "standard-tier"


def test_a_database_from_before_quota_groups_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, refresh_token TEXT NOT NULL,"
        " access_token TEXT NOT NULL DEFAULT '', token_expiry REAL NOT NULL DEFAULT 0,"
        " refresh_lock_until REAL NOT NULL DEFAULT 0, refresh_lock_pid INTEGER NOT NULL DEFAULT 0,"
        " project TEXT NOT NULL DEFAULT '', tier TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1,"
        " disabled_reason TEXT NOT NULL DEFAULT '', models TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL,"
        " last_used REAL NOT NULL DEFAULT 0);"
        "INSERT INTO accounts (email, refresh_token, created_at) VALUES ('old@example.com', 'rt', 0);"
    )
    old.commit()
    old.close()
    store = Store(path)
    assert store.find("old@example.com").quota_groups == []
    store.update(1, quota_groups=[{"displayName": "g", "buckets": []}])
    assert Store(path).find("old@example.com").quota_groups == [{"displayName": "g", "buckets": []}]


def test_upsert_updates_by_email(tmp_path):
    store = Store(tmp_path / "db")
    first = store.upsert("a@example.com", "rt-1", project="p")
    second = store.upsert("a@example.com", "rt-2")
    assert first.id == second.id and second.refresh_token == "rt-2" and second.project == "p"


def test_refresh_lock_is_exclusive_until_it_lapses_or_its_holder_dies(tmp_path):
    store = Store(tmp_path / "db")
    account = store.upsert("a@example.com", "rt")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.conn.execute(
            "UPDATE accounts SET refresh_lock_until = ?, refresh_lock_pid = ? WHERE id = ?",
            (time.time() + 30, holder.pid, account.id),
        )
        assert not store.try_lock_refresh(account.id, 30)  # a live process holds it
    finally:
        holder.kill()
        holder.wait()
    assert store.try_lock_refresh(account.id, 30)  # its holder is gone: taken over at once


def test_usage_adds_up_and_skips_removed_accounts(tmp_path):
    store = Store(tmp_path / "db")
    account = store.upsert("a@example.com", "rt")
    for _ in range(2):
        store.add_usage(
            {
                (account.id, "m"): Tally(
                    requests=2, failures={429: 1}, tokens_in=5, tokens_out=7, last_error="429: slow", last_used=1.0
                ),
                (999, "m"): Tally(requests=1),
            }
        )
    [row] = store.usage()
    assert (row["requests"], row["tokens_in"], row["tokens_out"]) == (4, 10, 14)
    assert row["failures"] == '{"429": 2}' and row["last_error"] == "429: slow"
