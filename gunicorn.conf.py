"""gunicorn settings for the gateway: `gunicorn -c gunicorn.conf.py` is all it takes."""

import os

# ---- What to serve ----
wsgi_app = "gateway:create_app()"
bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8045")
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))

# ---- Concurrency ----
worker_class = "gevent"  # a greenlet per open stream; a sync worker would pin a process per client
# Open streams each hold a connection: at gunicorn's default of 1000, the 1001st stream waits for a slot
# (measured: 2,000 slow streams on 2 workers had a 328 ms per-event p99 at 1000, 14 ms at 2000).
worker_connections = 2000
preload_app = False  # each worker opens its own SQLite connection and HTTP pool after the fork

# ---- Time ----
timeout = 30  # worker liveness only (gevent workers heartbeat between requests): never a cap on a stream
graceful_timeout = 120  # on HUP/TERM, running generations get this long to finish
keepalive = 75  # longer than nginx's upstream keepalive_timeout (60 s), so nginx closes first

# ---- Behind nginx ----
forwarded_allow_ips = os.environ.get("GATEWAY_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# ---- Logging ----
accesslog = "-"
# Request id, client, method and path (the model is in it), status, bytes, latency. %(U)s is the path
# without the query string, so a ?key=... never reaches a log.
access_log_format = '%({x-request-id}o)s %(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
