"""python -m bench.profile: where a relay's CPU goes under S1 load, sampled by py-spy from its workers.

Starts the fake upstream and one system (the gateway by default), drives it with wrk, records every worker with
`py-spy record --subprocesses` and prints the functions that hold the most CPU, inclusive and self, with an
estimate in microseconds per request (CPU per request from /proc times the share of samples). The raw stacks
(collapsed format, for flamegraph tools or speedscope) are kept in bench/results/. Needs `pip install py-spy`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from . import systems
from .load import script, wrk
from .streams import HEADERS, body

RESULTS = Path(__file__).resolve().parent / "results"
FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>.+?)(?::\d+)?\)$")
PY_SPY = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}") or "py-spy"
STARTERS = {"bare": systems.bare_relay, "gateway": systems.gateway}
TLS_PAIR = ("gateway-tls", "gateway-proxy")  # S1P's: over HTTPS to the fake, direct or behind tinyproxy


def record(system: systems.System, seconds: int, connections: int, events: int, out: Path) -> dict:
    """py-spy on every worker while wrk loads the system; the run's request count and CPU seconds."""
    system.wait_ready()
    lua = script(body(events, 0), HEADERS, system.log.parent)
    url = system.url + system.generate_path
    wrk(url, lua, 8, 2)  # warm-up
    command = [PY_SPY, "record", "--pid", str(system.process.pid), "--subprocesses", "--nonblocking"]
    command += ["--rate", "200", "--duration", str(seconds), "--format", "raw", "--output", str(out)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # py-spy attaches
    cpu = system.tree.cpu_seconds()
    run = wrk(url, lua, connections, seconds - 2)
    run["cpu_s"] = system.tree.cpu_seconds() - cpu
    spy.wait(timeout=seconds + 60)
    return run


def shares(raw: Path) -> tuple[Counter, Counter, Counter, int]:
    """Sample counts from collapsed stacks: inclusive and self per `function (file)`, per innermost gateway
    function (its own code and the library code it calls), and the total."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    owner: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_name(frame) for frame in stack.split(";") if FRAME.match(frame)]
        if not frames or not count.isdigit():
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for name in set(frames):
            inclusive[name] += int(count)
        ours = [name for name in frames if "(gateway/" in name or "(bench/" in name]
        owner[ours[-1] if ours else "(no frame of the relay's own code: server, framework, event loop)"] += int(count)
    return inclusive, own, owner, total


def _name(frame: str) -> str:
    """`function (path/to/file.py:12)` as `function (file.py)`, with the package path kept short."""
    match = FRAME.match(frame)
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3", f"{systems.ROOT}/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['function']} ({path})"


def table(counts: Counter, total: int, us_per_request: float, top: int) -> list[str]:
    """The `top` entries: share of samples and the estimated microseconds per request."""
    return [
        f"{count / total * 100:6.1f}%  {count / total * us_per_request:7.0f} us/req  {name}"
        for name, count in counts.most_common(top)
    ]


def main() -> None:
    """Start the fake and one system, record it under load, print the hottest functions."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--system", choices=(*STARTERS, *TLS_PAIR), default="gateway")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--events", type=int, default=2, help="events per upstream answer (S1 uses 2)")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    if not Path(PY_SPY).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / time.strftime(f"profile-{args.system}-%Y%m%d-%H%M%S.txt")
    with ExitStack() as running:
        if args.system in TLS_PAIR:  # both gateways, tinyproxy and the HTTPS fake start; one is recorded
            extras: list[systems.System] = []
            systems.start_tls_pair(running, workdir, systems.CONF, extras)
            system = next(extra for extra in extras if extra.name == args.system)
        else:
            fake = systems.fake_upstream(workdir)
            running.callback(fake.stop)
            system = STARTERS[args.system](workdir, fake.port)
            running.callback(system.stop)
        run = record(system, args.seconds, args.connections, args.events, out)
    inclusive, own, owner, total = shares(out)
    us = run["cpu_s"] / run["requests"] * 1e6
    print(f"{args.system}: {run['rps']:.0f} req/s at {args.connections} connection(s), {us:.0f} us CPU/request")
    print(f"{total} samples; raw stacks in {out}\n\nInclusive (function and everything it calls):")
    print("\n".join(table(inclusive, total, us, args.top)))
    print("\nSelf (the function's own code):")
    print("\n".join(table(own, total, us, args.top)))
    print("\nBy the relay's own function nearest the leaf (its code and the library code it calls):")
    print("\n".join(table(owner, total, us, args.top)))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
