"""gunicorn settings for the gateway: `gunicorn -c gunicorn.conf.py` is all it takes."""

import gc
import os
import resource
import shutil
import signal
import sys
import tempfile

# ---- Metrics ----
# prometheus-client's multi-process mode: each worker writes its samples to this directory and /metrics
# adds them up. A fresh directory per master start, set before anything imports prometheus_client: the
# settings check below loads the gateway's modules, and workers inherit what the master imported.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")

from gateway import startup

# ---- What to serve ----
# Every GATEWAY_* setting, the data directory and the database are checked here, before gunicorn binds or
# forks: a bad one stops the start with one line on stderr naming it, exit code 1.
GATEWAY, ACCOUNTS = startup.preflight()
wsgi_app = "gateway:create_app()"
bind = GATEWAY.bind
workers = GATEWAY.workers

# ---- Concurrency ----
worker_class = "gateway.worker.Worker"  # gevent's: a greenlet per open stream (a sync worker would pin a process
# per client), stopping as soon as its requests are answered, not when idle keep-alive clients leave
# Open streams each hold a connection: past worker_connections the next one waits unaccepted (measured:
# 2,000 slow streams on 2 workers had a 328 ms per-event p99 at gunicorn's default of 1000, 14 ms at 2000).
# GATEWAY_WORKER_CONNECTIONS (default 6000: 10,000 streams on two workers, with room for an uneven split);
# the gateway refuses new requests with a 503 a little before it (gateway/capacity.py), so none waits.
worker_connections = GATEWAY.worker_connections
# New connections wait in the listen queue while the workers are busy: gunicorn's default of 2048 overflowed at
# 1,000 new streams a second (S6, 10,000 streams on 2 cores: 411 connections reset; none with 4096). As many as
# a worker holds, at least that default; the kernel caps it at net.core.somaxconn (4096 on current kernels).
backlog = max(2048, worker_connections)
# Each stream holds two descriptors in its worker (client and upstream sockets), plus the process's own
# files: raise the soft limit to cover them, as far as the hard one allows (systemd's LimitNOFILE sets both).
NOFILE_NEEDED = 2 * worker_connections + 256
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft != resource.RLIM_INFINITY and _soft < NOFILE_NEEDED:
    _wanted = NOFILE_NEEDED if _hard == resource.RLIM_INFINITY else min(_hard, NOFILE_NEEDED)
    resource.setrlimit(resource.RLIMIT_NOFILE, (_wanted, _hard))
    if _wanted < NOFILE_NEEDED:
        print(
            f"gateway: open-file limit {_wanted} < {NOFILE_NEEDED} needed for {worker_connections} "
            "connections per worker (raise LimitNOFILE / ulimit -n)",
            file=sys.stderr,
        )
preload_app = False  # each worker opens its own SQLite connection and HTTP pool after the fork
# gunicorn 25+'s control socket defaults to one path per user: two gateways on a host would fight over it.
# systemd drives the master with signals (HUP reload, TERM stop) instead.
control_socket_disable = True

# ---- Time ----
timeout = 30  # worker liveness only (gevent workers heartbeat between requests): never a cap on a stream
graceful_timeout = 120  # on HUP/TERM, running generations get this long to finish
keepalive = 75  # longer than nginx's upstream keepalive_timeout (60 s), so nginx closes first

# ---- Behind nginx ----
forwarded_allow_ips = GATEWAY.forwarded_allow_ips

# ---- Logging ----
# The gateway writes one line per request itself (request id, model, account, attempts, upstream status,
# status, time to first byte, duration, tokens; never the query string, a key or a prompt), so its logger
# class drops gunicorn's access lines, which would only repeat them, and formats gunicorn's own messages
# like the gateway's (GATEWAY_LOG_FORMAT).
logger_class = "gateway.logs.GunicornLogger"
errorlog = "-"


def when_ready(server):
    """Bound and about to fork the workers: say once how the gateway came up."""
    startup.log_ready(server.log.error_log, GATEWAY, server.LISTENERS, ACCOUNTS)


def on_exit(server):
    """The samples die with the master."""
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def pre_fork(server, worker):
    """A worker's heartbeat starts as the master forks it. gunicorn compares the monotonic clock with the
    heartbeat file's mtime, which until the worker's first beat is the file's creation in wall-clock time:
    another clock. So a worker stuck while booting was never restarted (monotonic far behind the epoch), or,
    where the monotonic clock runs ahead of it (under libfaketime), each new worker was killed before it had
    booted. From here a boot has `timeout` seconds, as gunicorn's docs say of any silent worker."""
    worker.tmp.notify()


def post_fork(server, worker):
    """Until a new worker sets its own signal handlers (after gevent's patching, a few tenths of a second), it has
    the master's, which queue a signal for a master loop the worker never runs: a stop arriving then was lost,
    and the master waited out graceful_timeout (120 s) for that worker. A worker serving nothing yet just ends."""
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, _end_before_serving)


def _end_before_serving(number, frame):
    sys.exit(0)


def post_worker_init(worker):
    """Once the app is loaded, its objects (modules, app, pools) never need collecting: freeze them, so the
    cyclic collector's full passes only scan what requests create. Measured: a full pass over a freshly
    loaded worker took 17.5 ms, a stall for every open stream; 0 ms after the freeze. Then its background
    jobs start: only serving workers run them, never the CLI."""
    gc.freeze()
    extensions = getattr(worker.wsgi, "extensions", {})
    if "gateway" in extensions:  # bench/bare_relay.py serves a bare Flask app with these same settings
        extensions["gateway"].start_background()


def pre_request(worker, req):
    """On a full worker every connection closes after its answer: refusals must not linger in keep-alive."""
    from gateway.capacity import close_when_full

    close_when_full(worker.wsgi, req)


def worker_exit(server, worker):
    """A stopping worker writes its last second of usage counts and finished requests before it goes."""
    # A worker stopped while booting has no app yet.
    services = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("gateway")
    if services is not None:
        services.usage.flush()
        services.keys.usage.flush()
        services.activity.flush()
    # Frozen objects outlive the modules they need at interpreter exit (logging's handler cleanup then fails
    # noisily under gevent): hand them back to the collector for an orderly shutdown.
    gc.unfreeze()


def child_exit(server, worker):
    """A worker that exits stops counting in the live gauges (open streams)."""
    from gateway.metrics import mark_worker_dead

    mark_worker_dead(worker.pid)
