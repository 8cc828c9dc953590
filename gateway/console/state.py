"""What the console shows, as one JSON document: the pool as `gateway accounts list` sees it, usage of
the last 24 hours, the last requests, the team keys, the audit log and the files stored. Never a token or a
key: the account rows are those of `accounts list --json`, the keys those of `keys list --json` (a key's
prefix, never the key), and the requests are the ones the activity log keeps."""

from __future__ import annotations

from collections import Counter, defaultdict

from ..accounts.report import describe_all, upstream_totals
from ..activity import COUNTS, HOURS
from ..codec import dumps_line
from ..keys.manage import describe_all as describe_keys
from ..keys.manage import limits
from ..services import Services

AUDIT_SHOWN = 50  # the audit log's last entries on the page; `gateway audit` shows them all
BUILT_EVERY = 1.0  # seconds: at most one state document a second per worker, however many viewers refresh


class SharedState:
    """The state document as JSON, built at most once per BUILT_EVERY seconds and served to every viewer.

    Each viewer refreshes every 3 s; built anew per refresh, a pool of 200 accounts x 7 models cost 11.6 ms of CPU
    a refresh, so 50 viewers took 16% of the gateway's throughput. An administrative action anywhere (this
    worker, another, another host, the CLI) is a new audit entry, which makes the next refresh build it again:
    the page that made a change sees it at once; requests served show within a second."""

    def __init__(self) -> None:
        self._body = b""
        self._built = float("-inf")
        self._last_action: list[dict] = []

    def body(self, gateway: Services) -> bytes:
        now, last_action = gateway.clock(), gateway.audit.newest(1)
        stale = not self._built <= now < self._built + BUILT_EVERY  # or the clock went back
        if stale or last_action != self._last_action:
            self._body, self._built, self._last_action = dumps_line(pool_state(gateway, now)), now, last_action
        return self._body


def pool_state(gateway: Services, now: float) -> dict:
    """The console's whole view as of `now`: accounts, totals, usage by model and by hour, last requests."""
    accounts = with_egress(gateway, describe_all(gateway.store, now))
    hourly = gateway.activity.hourly(now)
    per_account = _summed(hourly, "account")
    for account in accounts:
        account["usage_24h"] = per_account.get(account["email"], _zero())
        account["upstream"] = upstream_totals(account)
        del account["usage"]  # per model, the largest part of a row, and the page shows only its totals
    states = Counter(account["state"] for account in accounts)
    totals = {name: sum(row[name] for row in hourly) for name in COUNTS}
    totals["files"], totals["file_bytes"] = gateway.files.totals()  # what the Files API holds on disk now
    return {
        "now": now,
        "client_version": gateway.client.user_agent,
        "accounts": accounts,
        "totals": {"accounts": len(accounts), **{s: states[s] for s in ("active", "cooling", "disabled")}, **totals},
        "models_24h": [
            {"model": model, **counts} for model, counts in sorted(_summed(hourly, "model").items()) if model
        ],
        "hours": _by_hour(hourly, int(now // 3600)),
        "recent": gateway.activity.recent(),
        "keys": [key | {"limits": "  ".join(limits(key)) or "none"} for key in describe_keys(gateway.keys.backend)],
        "audit": gateway.audit.newest(AUDIT_SHOWN),
    }


def with_egress(gateway: Services, rows: list[dict]) -> list[dict]:
    """Each account row with its egress as the console shows it: `host:port` of its proxy, or `direct`."""
    names = {account.id: gateway.egresses.of(account).name for account in gateway.store.accounts()}
    for row in rows:
        row["egress"] = names.get(row["id"], "")
    return rows


def _zero() -> dict:
    return dict.fromkeys(COUNTS, 0)


def _summed(rows: list[dict], by: str) -> dict:
    sums: defaultdict = defaultdict(_zero)
    for row in rows:
        for name in COUNTS:
            sums[row[by]][name] += row[name]
    return dict(sums)


def _by_hour(rows: list[dict], this_hour: int) -> list[dict]:
    """Requests and failures in each of the last 24 hours, oldest first (for the chart)."""
    sums = _summed(rows, "hour")
    return [{"hour": hour * 3600, **sums.get(hour, _zero())} for hour in range(this_hour - HOURS + 1, this_hour + 1)]
