"""S1 with console viewers: the gateway's non-stream throughput (wrk, 32 connections) alone and while 50
browsers' worth of console refreshes (GET /console/api/state every 3 s each, staggered) run beside it.
Paired 1 s rounds in alternating order, median ratio reported. `python -m bench.console_viewers`.

On a shared machine paired rounds still spread by a fifth, far wider than the 5% asked; so the cost is also
measured as CPU, which neighbours hardly move: the gateway's CPU per refresh, alone, against its CPU per S1
request. While S1 saturates the gateway, the viewers' CPU is taken from it, so the throughput they cost is
their CPU a second over what S1 used a second.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import requests

from gateway.accounts.store import Store

from .console_scale import populate
from .load import script, wrk
from .scenarios import S1_EVENTS
from .streams import API_KEY, HEADERS, body
from .systems import System, fake_upstream, gateway

VIEWERS, EVERY = 50, 3.0
ROUNDS, SECONDS = 8, 1.0
CPU_SECONDS = 6  # each side of the CPU comparison


def console_cookies(url: str) -> requests.cookies.RequestsCookieJar:
    session = requests.Session()
    form = session.get(url + "/console/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    session.post(url + "/console/login", data={"key": API_KEY, "csrf_token": token}, timeout=10)
    return session.cookies


def viewers(url: str, cookies, stop: threading.Event, served: list[int]) -> list[threading.Thread]:
    def view(offset: float) -> None:
        session = requests.Session()
        session.cookies.update(cookies)
        if stop.wait(offset):
            return
        while not stop.is_set():
            served.append(session.get(url + "/console/api/state", timeout=30).status_code)
            stop.wait(EVERY)

    return [threading.Thread(target=view, args=(n * EVERY / VIEWERS,), daemon=True) for n in range(VIEWERS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", action="store_true", help="the console shows 200 accounts x 7 models, not 4")
    big_pool = parser.parse_args().pool
    with ExitStack() as running, tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        fake = fake_upstream(workdir)
        running.callback(fake.stop)
        served_by = gateway(workdir, fake.port)
        running.callback(served_by.stop)
        if big_pool:
            populate(SimpleNamespace(store=Store(workdir / "gateway-data" / "gateway.db")))
        fake.wait_ready()
        served_by.wait_ready()
        lua = script(body(S1_EVENTS, 0), HEADERS, workdir)
        target = served_by.url + served_by.generate_path
        wrk(target, lua, 8, 1)  # warm-up
        cookies = console_cookies(served_by.url)
        cpu_share(served_by, target, lua, cookies)
        ratios, alone, watched, statuses = [], [], [], []
        for n in range(ROUNDS):
            rates = {}
            for with_viewers in (False, True) if n % 2 == 0 else (True, False):
                stop = threading.Event()
                threads = viewers(served_by.url, cookies, stop, statuses) if with_viewers else []
                for thread in threads:
                    thread.start()
                if threads:
                    stop.wait(EVERY)  # every viewer has refreshed once before wrk starts
                rates[with_viewers] = wrk(target, lua, 32, SECONDS)["rps"]
                stop.set()
                for thread in threads:
                    thread.join()
            alone.append(rates[False])
            watched.append(rates[True])
            ratios.append(rates[True] / rates[False])
        print(f"S1 c32 alone: median {statistics.median(alone):.0f} req/s")
        print(f"S1 c32 with {VIEWERS} viewers every {EVERY:g} s: median {statistics.median(watched):.0f} req/s")
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
        print(f"ratio, round by round: median {statistics.median(ratios):.3f} (range {spread}, {ROUNDS} rounds)")
        print(f"console refreshes answered: {len(statuses)}, statuses {set(statuses)}")


def cpu_share(system: System, target: str, lua: Path, cookies) -> None:
    """The gateway's CPU a second with the viewers alone, and with S1 alone: what the viewers take of S1."""
    stop, served = threading.Event(), []
    threads = viewers(system.url, cookies, stop, served)
    for thread in threads:
        thread.start()
    stop.wait(EVERY)  # every viewer has refreshed once
    before, count = system.tree.cpu_seconds(), len(served)
    stop.wait(CPU_SECONDS)
    viewers_per_second, refreshes = (system.tree.cpu_seconds() - before) / CPU_SECONDS, len(served) - count
    stop.set()
    for thread in threads:
        thread.join()
    before = system.tree.cpu_seconds()
    run = wrk(target, lua, 32, CPU_SECONDS)
    used = system.tree.cpu_seconds() - before
    per_second = used / CPU_SECONDS
    print(
        f"gateway CPU: {viewers_per_second * 1000:.0f} ms a second for {VIEWERS} viewers every {EVERY:g} s "
        f"({viewers_per_second * CPU_SECONDS / refreshes * 1000:.2f} ms a refresh), "
        f"{used / run['requests'] * 1000:.3f} ms per S1 request"
    )
    print(
        f"the viewers take {viewers_per_second / per_second:.1%} of the CPU S1 c32 used ({per_second:.2f} CPU s a "
        "second): the throughput they cost while the gateway is saturated"
    )


if __name__ == "__main__":
    main()
