"""python -m bench.memory [--streams N]: where an open stream's memory goes in the gateway.

Opens N slow streams on the gateway (its own gunicorn.conf.py, 2 workers, tracemalloc on in each worker via
bench/memory_conf.py), and once all are open prints, per stream, the workers' resident memory growth and what
tracemalloc saw allocated since the workers were ready, by owner: the gateway's code, requests/urllib3
(with http.client, ssl, socket), gevent/greenlet, gunicorn, flask/werkzeug, prometheus, the rest. What RSS
grew beyond the traced total is memory Python's allocator does not see: greenlet stacks, OpenSSL, the
allocator's own slack. tracemalloc slows the workers: this measures memory, never speed.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

from .streams import body, many  # noqa: E402
from .systems import CONF, fake_upstream, gateway  # noqa: E402

TRACED_CONF = str(Path(__file__).with_name("memory_conf.py"))
EVENTS = 40  # 1 s apart: the streams stay open well past the snapshot


def measure(count: int, trace: bool = True) -> dict:
    """Open `count` streams, snapshot the workers while all are open, close them; the numbers.

    `trace=False` runs the gateway's own settings: resident memory without tracemalloc's bookkeeping."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    folder = workdir / "snapshots"
    folder.mkdir()
    os.environ["BENCH_MEMORY_DIR"] = str(folder)  # the servers inherit the environment
    with ExitStack() as running:
        fake = fake_upstream(workdir)
        running.callback(fake.stop)
        server = gateway(workdir, fake.port, TRACED_CONF if trace else CONF)
        running.callback(server.stop)
        server.wait_ready()
        workers = [p for p in server.tree.refresh() if p != server.process.pid]
        before = server.tree.rss_mib()
        rate = 200
        clients = gevent.spawn(many, server.port, server.stream_path, body(EVENTS, 1000), EVENTS, count, rate, 60)
        gevent.sleep(count / rate + 3)  # every stream open and past its first event
        during = server.tree.rss_mib()
        (folder / "take").touch()
        deadline = time.monotonic() + 120
        while trace and len(list(folder.glob("*.json"))) < len(workers) and time.monotonic() < deadline:
            gevent.sleep(0.5)
        clients.kill()
    shots = [json.loads(path.read_text()) for path in folder.glob("*.json")]
    owners: dict[str, int] = {}
    for shot in shots:
        for name, value in shot["owners"].items():
            owners[name] = owners.get(name, 0) + value["bytes"]
    return {
        "streams": count,
        "rss_before_mib": before,
        "rss_during_mib": during,
        "rss_per_stream_kib": (during - before) * 1024 / count,
        "traced_per_stream_kib": {k: v / 1024 / count for k, v in sorted(owners.items(), key=lambda kv: -kv[1])},
        "top_lines": sorted((t for shot in shots for t in shot["top"]), key=lambda t: -t["bytes"])[:12],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--no-trace", action="store_true", help="resident memory only, without tracemalloc")
    args = parser.parse_args()
    result = measure(args.streams, trace=not args.no_trace)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
