"""gunicorn settings for `python -m bench.memory`: the gateway's own, plus tracemalloc in each worker.

Each worker starts tracing once the app is loaded (so the baseline is a ready worker), and when the file
`$BENCH_MEMORY_DIR/take` appears, writes what was allocated since, by owner, to `$BENCH_MEMORY_DIR/<pid>.json`.
"""

import json
import os
import tracemalloc
from pathlib import Path

import gevent

exec(Path(__file__).resolve().parent.parent.joinpath("gunicorn.conf.py").read_text())

# Whose allocations a traced file's path names, first match wins.
OWNERS = (
    ("gateway", "/gateway/"),
    ("requests/urllib3", "/requests/", "/urllib3/", "/http/client.py", "/ssl.py", "/socket.py"),
    ("gevent/greenlet", "/gevent/", "/greenlet/"),
    ("gunicorn", "/gunicorn/"),
    ("flask/werkzeug", "/flask/", "/werkzeug/"),
    ("prometheus", "/prometheus_client/"),
)
serving_init = post_worker_init  # noqa: F821 - defined by the exec above


def owner(filename: str) -> str:
    return next((name for name, *parts in OWNERS if any(part in filename for part in parts)), "other")


def snapshot_when_asked(folder: Path, baseline: tracemalloc.Snapshot) -> None:
    """Poll for the trigger file; write the allocations since the baseline, by owner and by top line."""
    while not (folder / "take").exists():
        gevent.sleep(0.2)
    stats = tracemalloc.take_snapshot().compare_to(baseline, "traceback")
    owners: dict[str, list[int]] = {}
    for stat in stats:
        # The innermost frame that is not the standard library's names the owner (a dict made for a request is
        # the gateway's, even though dict's code is C).
        frames = [frame.filename for frame in reversed(stat.traceback)]  # tracemalloc lists the oldest first
        who = next((owner(f) for f in frames if owner(f) != "other"), "other")
        total = owners.setdefault(who, [0, 0])
        total[0] += stat.size_diff
        total[1] += stat.count_diff
    top = [
        {"where": f"{s.traceback[-1].filename}:{s.traceback[-1].lineno}", "bytes": s.size_diff, "blocks": s.count_diff}
        for s in tracemalloc.take_snapshot().compare_to(baseline, "lineno")[:15]
    ]
    data = {"owners": {k: {"bytes": v[0], "blocks": v[1]} for k, v in owners.items()}, "top": top}
    (folder / f"{os.getpid()}.json").write_text(json.dumps(data, indent=1))


def post_worker_init(worker):
    serving_init(worker)
    tracemalloc.start(8)
    gevent.spawn(snapshot_when_asked, Path(os.environ["BENCH_MEMORY_DIR"]), tracemalloc.take_snapshot())
