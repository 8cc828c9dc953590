"""Accounts as `gateway accounts list` shows them: state, cooldowns, quota, usage — never a token."""

from __future__ import annotations

from datetime import UTC, datetime

from ..codec import decode
from .egress import mask
from .store import Account, Snapshot, Store

BAR_WIDTH = 10


def describe_all(store: Store, now: float) -> list[dict]:
    snapshot = store.snapshot()
    usage: dict[int, dict] = {}
    for row in store.usage():
        usage.setdefault(row["account_id"], {})[row["model"]] = {
            "requests": row["requests"],
            "failures": decode(row["failures"]),
            "tokens_in": row["tokens_in"],
            "tokens_out": row["tokens_out"],
            "last_error": row["last_error"],
        }
    # Grouped once: the console asks for 200 accounts every few seconds, and a scan of every cooldown per
    # account was a third of its refresh.
    cooldowns: dict[int, list[dict]] = {}
    for (account_id, model), c in sorted(snapshot.cooldowns.items()):
        if c.until > now:
            cooldown = {"model": model, "until": iso(c.until), "seconds_left": round(c.until - now), "reason": c.reason}
            cooldowns.setdefault(account_id, []).append(cooldown)
    return [
        describe(snapshot, account, now, usage.get(account.id, {}), cooldowns.get(account.id, []))
        for account in snapshot.accounts
    ]


def describe(snapshot: Snapshot, account: Account, now: float, usage: dict, cooldowns: list[dict]) -> dict:
    return {
        "id": account.id,
        "email": account.email,
        "state": snapshot.state(account, now),
        "disabled_reason": account.disabled_reason,
        "appeal_url": account.appeal_url or None,  # a ban's appeal form (disabled_reason "banned: …")
        "last_geo_block": iso(account.last_geo_block) if account.last_geo_block else None,
        "project": account.project,
        "tier": account.tier,
        "proxy": mask(account.proxy),  # null: GATEWAY_UPSTREAM_PROXY; "none": direct; credentials as ***
        "cooldowns": cooldowns,
        "quota": {
            model: {k: info[k] for k in ("remainingFraction", "resetTime") if k in info}
            for model, info in sorted(account.models.items())
            if "aliasOf" not in info
        },
        "quota_groups": account.quota_groups,
        "token_expires": iso(account.token_expiry) if account.token_expiry else None,
        "last_used": iso(account.last_used) if account.last_used else None,
        "usage": usage,
    }


def summary_line(row: dict) -> str:
    """One account on one line, for the table."""
    state = row["state"]
    if row["disabled_reason"]:
        state += f" ({row['disabled_reason']})"
    for cooldown in row["cooldowns"]:
        state += f" [{cooldown['model']} until {cooldown['until']}]"
    if row["appeal_url"]:
        state += f" appeal={row['appeal_url']}"
    if row["last_geo_block"]:
        state += f" last_geo_block={row['last_geo_block']}"
    upstream = upstream_totals(row)
    return (
        f"{row['id']:>3}  {row['email']}  {state}  project={row['project'] or '-'}  tier={row['tier'] or '-'}  "
        f"proxy={row['proxy'] or 'default'}  "
        f"upstream_requests={upstream['requests']} upstream_failed={upstream['failures']} "
        f"last_used={row['last_used'] or 'never'}"
    )


def upstream_totals(row: dict) -> dict[str, int]:
    """The calls made to Google with this account, and how many failed, since it was added: one client
    request that failed over counts on each account it tried (the console's client requests count it once,
    on the account that answered). The CLI and the console both call these "upstream requests"."""
    usage = row["usage"].values()
    return {"requests": sum(u["requests"] for u in usage), "failures": sum(sum(u["failures"].values()) for u in usage)}


def quota_lines(row: dict) -> list[str]:
    """A bar per model, then per quota bucket (5-hour, weekly): the remaining fraction and when it resets."""
    bars = [(model, q.get("remainingFraction"), q.get("resetTime")) for model, q in row["quota"].items()]
    bars += [
        (f"{group['displayName']} ({bucket.get('window', '?')})", bucket["remainingFraction"], bucket.get("resetTime"))
        for group in row["quota_groups"]
        for bucket in group["buckets"]
    ]
    lines = []
    for name, fraction, reset_time in bars:
        if fraction is None:
            continue
        filled = round(fraction * BAR_WIDTH)
        reset = f"  resets {reset_time}" if reset_time else ""
        lines.append(f"      {name:<28} {'█' * filled}{'░' * (BAR_WIDTH - filled)} {fraction:>4.0%}{reset}")
    return lines


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
