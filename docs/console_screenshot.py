"""Take docs/console.png: the console over a few fake accounts (one cooling, one disabled) in headless chromium.

Run from the checkout with the test extras installed: `python docs/console_screenshot.py`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.activity import SqliteActivity  # noqa: E402
from tests.conftest import add_account, gateway_env, quota_error, start_gateway  # noqa: E402
from tests.fake_upstream import FakeGoogle, Reply, iso_after  # noqa: E402
from tests.test_console_browser import card, log_in, new_browser  # noqa: E402

FLASH = "/v1beta/models/gemini-2.5-flash:generateContent"
PRO = "/v1beta/models/gemini-2.5-pro:generateContent"


RESET = iso_after(5 * 3600)
QUOTAS = [{"gemini-2.5-flash": 0.82, "gemini-2.5-pro": 0.64}, {"gemini-2.5-flash": 0.35, "gemini-2.5-pro": 0.12}]
BUCKETS = [
    {"window": "5h", "remainingFraction": 0.7, "resetTime": RESET},
    {"window": "weekly", "remainingFraction": 0.9, "resetTime": iso_after(4 * 86400)},
]


def quota(fractions: dict[str, float]) -> dict:
    return {m: {"remainingFraction": f, "resetTime": RESET} for m, f in fractions.items()}


def main() -> None:
    google = FakeGoogle().start()
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as profile:
        gateway = start_gateway(gateway_env(google, Path(data), GATEWAY_WORKERS="1"))
        try:
            emails = ["ana@example.com", "ben@example.com", "chloe@example.com", "dev@example.com"]
            ids = [add_account(gateway, google, email) for email in emails]
            for account_id, fractions in zip(ids, QUOTAS, strict=False):
                gateway.store.update(account_id, models=quota(fractions))
            gateway.store.update(ids[0], quota_groups=[{"displayName": "Gemini Pro", "buckets": BUCKETS}])
            gateway.store.update(ids[3], enabled=0, disabled_reason="invalid_grant: Token has been expired or revoked.")
            # An hour-by-hour history for the chart, as the activity log would have kept it.
            history = SqliteActivity(Path(data) / "gateway.activity.db")
            now = time.time()
            for hours_ago in range(1, 24):
                count = int(6 + 5 * abs(12 - hours_ago) % 9)
                history.write([_entry(now - hours_ago * 3600, emails[n % 3], n % 7 == 0) for n in range(count)])
            google.script("streamGenerateContent", Reply(429, quota_error("1500s")), account="chloe@example.com")
            for number, path in enumerate((FLASH, PRO, FLASH, FLASH, PRO, FLASH, FLASH, PRO)):
                text = f"Conversation number {number}"
                gateway.post(path, {"contents": [{"role": "user", "parts": [{"text": text}]}]})
            time.sleep(1.5)  # the activity log writes once a second
            browser = new_browser(profile)
            try:
                browser.set_window_size(1280, 1100)
                log_in(browser, gateway)
                card(browser, "chloe@example.com")
                time.sleep(4)  # one refresh from the JSON, countdowns ticking
                browser.save_screenshot(str(ROOT / "docs" / "console.png"))
            finally:
                browser.quit()
        finally:
            gateway.stop()
            google.stop()


def _entry(at: float, account: str, failed: bool) -> dict:
    return {
        "at": at,
        "method": "POST",
        "path": FLASH,
        "model": "gemini-2.5-flash",
        "status": 429 if failed else 200,
        "account": account,
        "key": "admin",
        "attempts": 1,
        "duration_ms": 800.0,
        "tokens_in": 1200,
        "tokens_out": 300,
    }


if __name__ == "__main__":
    main()
