"""GET /healthz: cheap, public-friendly: the process serves, and how the accounts stand."""

from __future__ import annotations

import time

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
    enabled = [a for a in snapshot.accounts if a.enabled]
    cooling = sum(1 for a in enabled if snapshot.cooling_any(a, now))
    usable = len(enabled) - cooling
    # Always 200 while the process serves. "degraded": accounts are configured but none can answer now;
    # a gateway with no account yet is "ok" (nothing is failing, there is just nothing to serve from).
    return json_response(
        {
            "status": "degraded" if snapshot.accounts and not usable else "ok",
            "shared_state": store.shared_state,
            "accounts": {
                "usable": usable,
                "cooling": cooling,
                "disabled": len(snapshot.accounts) - len(enabled),
            },
        }
    )
