"""The gateway's Prometheus metrics (served by api/metrics.py), correct across gunicorn workers.

gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh directory before any worker starts, so every
worker writes its samples there; without it (CLI, tests in one process) they stay in-process.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram, multiprocess
from prometheus_client.metrics import MetricWrapperBase

REQUESTS = Counter(
    "gateway_requests_total", "Requests answered, by model, HTTP status and client key.", ["model", "status", "key"]
)
ATTEMPTS = Counter("gateway_upstream_attempts_total", "Calls to Google, by outcome.", ["outcome"])
FAILOVERS = Counter("gateway_failovers_total", "Requests moved to another account after a failure.")
FALLBACKS = Counter(
    "gateway_fallbacks_total", "Requests served by a fallback model (GATEWAY_MODEL_FALLBACKS).", ["from", "to"]
)
TOKENS = Counter("gateway_tokens_total", "Tokens reported by Google's usageMetadata.", ["direction"])
KEY_TOKENS = Counter(
    "gateway_key_tokens_total", "Tokens served, by client key (team key name or admin).", ["key", "direction"]
)
SESSION_ROTATIONS = Counter(
    "gateway_session_rotations_total",
    "Conversations moved to a new Cloud Code session after Google's input ceiling (accounts/sessions.py).",
)
OPEN_STREAMS = Gauge("gateway_open_streams", "Streams being relayed now.", multiprocess_mode="livesum")
# capacity.py: what the workers hold against GATEWAY_WORKER_CONNECTIONS, and what they turned away for it.
OPEN_REQUESTS = Gauge(
    "gateway_open_requests", "Requests in flight, open streams included.", multiprocess_mode="livesum"
)
REFUSED = Counter("gateway_refused_total", "Requests answered 503 because the worker was full.")
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
TTFB = Histogram("gateway_time_to_first_byte_seconds", "From request to the first byte of the answer.", buckets=BUCKETS)
DURATION = Histogram(
    "gateway_request_duration_seconds", "From request to the last byte of the answer.", buckets=BUCKETS
)
# Thought signatures put back on history functionCalls (translate/signatures.py).
THOUGHT_SIGNATURES = Counter(
    "gateway_thought_signatures_total",
    "History functionCalls given a signature: the one relayed for them, or Google's sentinel.",
    ["outcome"],
)


@functools.lru_cache(maxsize=4096)
def labelled(metric: MetricWrapperBase, *values: str) -> MetricWrapperBase:
    """The child of `metric` for these label values, found once: `labels()` validates and locks on every call,
    a few microseconds several times per request."""
    return metric.labels(*values)


def mark_worker_dead(pid: int) -> None:
    """Called by gunicorn's child_exit hook: a dead worker's live gauges stop counting."""
    multiprocess.mark_process_dead(pid)
