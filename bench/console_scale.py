"""The console with a big pool: 200 accounts x 7 models. Prints one refresh's JSON size and the time
console.js takes to re-render the page in headless Chromium (its `console-render` performance measures),
in the card view and the compact view. Numbers, not a test: `python -m bench.console_scale`.
"""

from __future__ import annotations

import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.accounts.store import Tally  # noqa: E402
from tests.conftest import gateway_env, start_gateway  # noqa: E402
from tests.console_helper import console_session  # noqa: E402
from tests.fake_upstream import FakeGoogle, iso_after  # noqa: E402
from tests.test_console_browser import log_in, new_browser  # noqa: E402

ACCOUNTS = 200
MODELS = [f"gemini-{v}" for v in ("2.5-flash", "2.5-pro", "2.5-flash-lite", "3-pro-high", "3-pro-low", "3-flash")]
MODELS.append("claude-sonnet-4-5")
RENDERS = 10  # refreshes measured per view, after the first


def populate(gateway) -> None:
    store = gateway.store
    for n in range(ACCOUNTS):
        account_id = store.upsert(f"user{n:03d}@example.com", f"rt-{n}", project=f"proj-{n}", tier="free-tier").id
        models = {
            m: {"remainingFraction": ((n * 7 + i * 13) % 100) / 100, "resetTime": iso_after(3600 * (i + 1))}
            for i, m in enumerate(MODELS)
        }
        store.update(account_id, models=models)
        store.add_usage(
            {
                (account_id, m): Tally(requests=n + i, failures={429: i % 2}, tokens_in=900, tokens_out=300)
                for i, m in enumerate(MODELS)
            }
        )
        if n % 10 == 0:
            store.set_cooldown(account_id, MODELS[0], 3600, "429 quota exhausted")
        if n % 17 == 0:
            store.update(account_id, enabled=0, disabled_reason="invalid_grant: Token has been expired or revoked.")


def renders(browser, count: int) -> list[float]:
    """Durations (ms) of the next `count` renders after those already measured."""
    seen = browser.execute_script("return performance.getEntriesByName('console-render').length")
    deadline = time.monotonic() + count * 3 + 30
    while time.monotonic() < deadline:
        entries = browser.execute_script("return performance.getEntriesByName('console-render').map((e) => e.duration)")
        if len(entries) >= seen + count:
            return entries[seen : seen + count]
        time.sleep(0.5)
    raise RuntimeError("the page stopped rendering")


def main() -> None:
    google = FakeGoogle().start()
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as profile:
        gateway = start_gateway(gateway_env(google, Path(data), GATEWAY_WORKERS="1"))
        try:
            populate(gateway)
            session, _ = console_session(gateway)
            body = session.get(gateway.url + "/console/api/state", timeout=30).content
            page = session.get(gateway.url + "/console", timeout=30).content
            print(f"state JSON: {len(body) / 1024:.1f} KiB ({len(gzip.compress(body)) / 1024:.1f} KiB gzipped)")
            print(f"page HTML:  {len(page) / 1024:.1f} KiB")
            timed = []
            for _ in range(5):
                started = time.perf_counter()
                requests.get(gateway.url + "/console/api/state", cookies=session.cookies, timeout=30)
                timed.append((time.perf_counter() - started) * 1000)
            print(f"state JSON served in {statistics.median(timed):.0f} ms (median of 5)")
            browser = new_browser(profile)
            try:
                browser.set_window_size(1400, 1000)
                log_in(browser, gateway)
                for view in ("0", "1"):
                    browser.execute_script(f"localStorage.setItem('console-compact', '{view}')")
                    renders(browser, 1)  # the next refresh applies it
                    took = renders(browser, RENDERS)
                    name = "compact" if view == "1" else "cards"
                    print(f"re-render, {name} view: median {statistics.median(took):.1f} ms, max {max(took):.1f} ms")
                browser.execute_script("localStorage.removeItem('console-compact')")
            finally:
                browser.quit()
        finally:
            gateway.stop()
            google.stop()


if __name__ == "__main__":
    main()
