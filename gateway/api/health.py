"""GET /healthz: cheap, public-friendly: the process serves, and whether it can serve well (and if not, why)."""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, Response

from ..accounts.failsoft import log_storage_problem, storage_problem
from ..accounts.store import Snapshot
from ..errors import GatewayError, json_response
from ..services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@bp.get("/health")
def healthz() -> Response:
    gateway = services()
    try:
        snapshot: Snapshot | None = gateway.store.snapshot()
    except GatewayError:  # the database cannot be read at all: records.problem says why
        snapshot = None
    now = gateway.clock()
    states = Counter(snapshot.state(account, now) for account in snapshot.accounts) if snapshot else Counter()
    storage, where = storage_problem(gateway.settings.database)  # what any worker's next write would meet
    log_storage_problem(storage, where)
    reasons = [
        gateway.records.problem,  # what this worker's last database access met
        storage,
        _pool_problem(snapshot, states) if snapshot else "",
    ]
    reason = "; ".join(r for r in reasons if r)
    # Always 200 while the process serves: "degraded" (with the reason) is for monitoring to act on.
    return json_response(
        {
            "status": "degraded" if reason else "ok",
            **({"reason": reason} if reason else {}),
            "shared_state": gateway.store.shared_state,
            "client_version": gateway.client.user_agent,  # what calls to Google carry (GATEWAY_USER_AGENT)
            "accounts": {
                "usable": states["active"],
                "cooling": states["cooling"],
                "disabled": states["disabled"],
            },
        }
    )


def _pool_problem(snapshot: Snapshot, states: Counter) -> str:
    """Why no account can serve, when none can: every call would be a 503 or a 429."""
    if not snapshot.accounts:
        return "no account is configured: add one with `gateway accounts import FILE` or `gateway accounts login`"
    if not states["active"]:
        return f"no account can serve now ({states['cooling']} cooling down, {states['disabled']} disabled)"
    return ""
