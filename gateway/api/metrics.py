"""GET /metrics: the workers' metrics added up, plus the pool's state read at scrape time."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from ..accounts.state import PoolState
from ..services import services

bp = Blueprint("metrics", __name__)


class PoolCollector:
    """Accounts by state and active cooldowns, read from the shared store at scrape time."""

    def __init__(self, store: PoolState) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot, now = self.store.snapshot(), self.store.clock()
        states = Counter(snapshot.state(account, now) for account in snapshot.accounts)
        accounts = GaugeMetricFamily("gateway_accounts", "Accounts by state.", labels=["state"])
        for state in ("active", "cooling", "disabled"):
            accounts.add_metric([state], states[state])
        yield accounts
        yield GaugeMetricFamily(
            "gateway_cooldowns_active",
            "Account/model cooldowns now running.",
            value=sum(1 for c in snapshot.cooldowns.values() if c.until > now),
        )


@bp.get("/metrics")
def metrics() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
    else:
        workers = REGISTRY
    pool = CollectorRegistry()
    pool.register(PoolCollector(services().store))
    return Response(generate_latest(workers) + generate_latest(pool), content_type=CONTENT_TYPE_LATEST)
