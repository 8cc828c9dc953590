"""S1 with console viewers: the gateway's non-stream throughput (wrk, 32 connections) alone and while 50
browsers' worth of console refreshes (GET /console/api/state every 3 s each, staggered) run beside it.
Paired 1 s rounds in alternating order, median ratio reported. `python -m bench.console_viewers`.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

import requests

from .load import script, wrk
from .scenarios import S1_EVENTS
from .streams import API_KEY, HEADERS, body
from .systems import fake_upstream, gateway

VIEWERS, EVERY = 50, 3.0
ROUNDS, SECONDS = 8, 1.0


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
    with ExitStack() as running, tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        fake = fake_upstream(workdir)
        running.callback(fake.stop)
        served_by = gateway(workdir, fake.port)
        running.callback(served_by.stop)
        fake.wait_ready()
        served_by.wait_ready()
        lua = script(body(S1_EVENTS, 0), HEADERS, workdir)
        target = served_by.url + served_by.generate_path
        wrk(target, lua, 8, 1)  # warm-up
        cookies = console_cookies(served_by.url)
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


if __name__ == "__main__":
    main()
