"""GET /healthz: the process serves (always "ok" and 200 while it does), and how the accounts stand."""

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
    return json_response(
        {
            "status": "ok",
            "shared_state": store.shared_state,
            "accounts": {
                "usable": len(enabled) - cooling,
                "cooling": cooling,
                "disabled": len(snapshot.accounts) - len(enabled),
            },
        }
    )
