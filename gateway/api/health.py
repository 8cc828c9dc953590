"""GET /healthz: cheap, public-friendly: the process serves, and how the accounts stand."""

from __future__ import annotations

import time
from collections import Counter

from flask import Blueprint, Response

from ..errors import json_response
from ..services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@bp.get("/health")
def healthz() -> Response:
    store = services().store
    snapshot = store.snapshot()
    now = time.time()
    states = Counter(snapshot.state(account, now) for account in snapshot.accounts)
    usable = states["active"]
    # Always 200 while the process serves. "degraded": accounts are configured but none can answer now;
    # a gateway with no account yet is "ok" (nothing is failing, there is just nothing to serve from).
    return json_response(
        {
            "status": "degraded" if snapshot.accounts and not usable else "ok",
            "shared_state": store.shared_state,
            "accounts": {
                "usable": usable,
                "cooling": states["cooling"],
                "disabled": states["disabled"],
            },
        }
    )
