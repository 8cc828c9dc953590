"""The console's second round in a real browser: team keys, the audit log, buttons that fit, UTC times."""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from gateway.keys.store import KEY_PREFIX
from tests import test_keys
from tests.conftest import HELLO, accounts_by_email, add_account, quota_error, wait_for
from tests.fake_upstream import Reply
from tests.test_console_browser import CHROMEDRIVER, CHROMIUM, card, field_text, log_in, wait_until
from tests.test_console_browser import browser as chromium

browser = chromium  # that module's fixture: a Chromium of this module's own
keys = test_keys.keys  # the shared gateway with no team key before and after the test

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromium-driver are not installed"
)
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


def listed_keys(gateway) -> dict[str, dict]:
    done = gateway.cli("keys", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def reload(browser) -> None:
    """Reload, and return only once the new page has run its script: an element found before then may be the old
    page's, stale a moment later."""
    browser.execute_script("window.beforeReload = true")
    browser.refresh()
    reloaded = 'return window.beforeReload === undefined && document.readyState === "complete"'
    wait_until(browser, lambda: browser.execute_script(reloaded), "the page did not reload")


def key_row(browser, name: str):
    rows = browser.find_elements(By.CSS_SELECTOR, f'[data-key="{name}"]')
    return rows[0] if rows else None


def in_row(browser, name: str, field: str):
    return key_row(browser, name).find_element(By.CSS_SELECTOR, f'[data-field="{field}"]')


def test_keys_are_listed_made_once_and_revoked(browser, keys, upstream):
    gateway = keys
    add_account(gateway, upstream, "alice@example.com")
    made = json.loads(gateway.cli("keys", "create", "ops", "--rpm", "10", "--daily-tokens", "5000", "--json").stdout)
    assert gateway.post(GENERATE, HELLO, key=made["key"]).status_code == 200
    log_in(browser, gateway)
    wait_until(browser, lambda: "1 requests" in in_row(browser, "ops", "usage").text, "no usage today")
    assert in_row(browser, "ops", "limits").text == "rpm=10 daily_tokens=5000"  # the words of `gateway keys list`
    last_used = in_row(browser, "ops", "last_used")
    assert last_used.text == listed_keys(gateway)["ops"]["last_used"] and last_used.get_attribute("title")

    form = browser.find_element(By.CSS_SELECTOR, 'form[data-action="create-key"]')
    form.find_element(By.NAME, "name").send_keys("newcomer")
    form.find_element(By.NAME, "rpm").send_keys("5")
    form.find_element(By.NAME, "models").send_keys("gemini-2.5-*")
    browser.execute_script("window.notReloaded = true")
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    shown = wait_until(browser, lambda: form.find_element(By.CSS_SELECTOR, '[data-field="new-key"]').text, "no key")
    assert shown.startswith(KEY_PREFIX) and browser.execute_script("return window.notReloaded") is True
    listed = listed_keys(gateway)["newcomer"]
    assert listed["rpm"] == 5 and listed["models"] == ["gemini-2.5-*"] and shown.startswith(listed["prefix"])
    # Workers re-read the keys at most a second old: the new key is accepted everywhere within it.
    wait_for(lambda: gateway.post(GENERATE, HELLO, key=shown, headers={"Connection": "close"}).status_code == 200)
    wait_until(browser, lambda: key_row(browser, "newcomer") is not None, "the new key is not listed")
    state = browser.execute_async_script(
        "const done = arguments[0]; fetch('/console/api/state').then((r) => r.text()).then(done);"
    )
    assert shown not in state and made["key"] not in state
    reload(browser)  # shown once: a reload does not bring it back
    assert shown not in browser.page_source and key_row(browser, "newcomer") is not None

    key_row(browser, "newcomer").find_element(By.CSS_SELECTOR, '[data-action="revoke"]').click()
    wait_until(browser, lambda: key_row(browser, "newcomer") is None, "the revoked key is still listed")
    assert "newcomer" not in listed_keys(gateway) and gateway.post(GENERATE, HELLO, key=shown).status_code == 401

    audit = browser.find_element(By.CSS_SELECTOR, '[data-section="audit"]')
    wait_until(browser, lambda: "keys revoke" in audit.text, "the revocation is not in the audit log")
    first = audit.find_elements(By.CSS_SELECTOR, "tbody tr")[:2]
    assert [row.text.split(" ", 1)[1] for row in first] == [
        "console 127.0.0.1 keys revoke newcomer",
        "console 127.0.0.1 keys create newcomer",
    ]
    time_cell = first[0].find_element(By.TAG_NAME, "td")
    assert time_cell.text.endswith("+00:00") and time_cell.get_attribute("title")
    assert shown not in audit.text


def test_a_bad_key_form_says_why(browser, keys):
    log_in(browser, keys)
    form = browser.find_element(By.CSS_SELECTOR, 'form[data-action="create-key"]')
    form.find_element(By.NAME, "name").send_keys("admin")  # how logs name GATEWAY_API_KEY: reserved
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    message = form.find_element(By.CSS_SELECTOR, '[data-field="message"]')
    wait_until(browser, lambda: "invalid key name" in message.text, "no reason shown")
    assert listed_keys(keys) == {} and not form.find_element(By.CSS_SELECTOR, ".new-key").is_displayed()


def actions(browser, email: str) -> list[str]:
    return [b.get_attribute("data-action") for b in card(browser, email).find_elements(By.CSS_SELECTOR, "button")]


def test_buttons_fit_the_state_and_a_cooling_bar_says_cooling(browser, gateway, upstream, account):
    log_in(browser, gateway)
    assert actions(browser, account) == ["disable", "quota"]
    card(browser, account).find_element(By.CSS_SELECTOR, '[data-action="disable"]').click()
    wait_until(browser, lambda: actions(browser, account) == ["enable", "quota"], "Enable not offered")
    assert accounts_by_email(gateway)[account]["state"] == "disabled"
    card(browser, account).find_element(By.CSS_SELECTOR, '[data-action="enable"]').click()
    wait_until(browser, lambda: actions(browser, account) == ["disable", "quota"], "Disable not offered")

    card(browser, account).find_element(By.CSS_SELECTOR, '[data-action="quota"]').click()
    bar = '[data-item="gemini-2.5-flash"]'
    wait_until(browser, lambda: card(browser, account).find_elements(By.CSS_SELECTOR, bar), "no quota bar")
    assert card(browser, account).find_element(By.CSS_SELECTOR, f"{bar} .pct").text.endswith("%")
    upstream.script("streamGenerateContent", Reply(429, quota_error("600s")), account=account)
    assert gateway.post(GENERATE, HELLO).status_code == 429
    wait_until(browser, lambda: field_text(browser, account, "state") == "cooling", "no cooldown")
    wait_until(
        browser,
        lambda: card(browser, account).find_element(By.CSS_SELECTOR, f"{bar} .pct").text == "cooling",
        "the bar of a cooling model shows its last reading",
    )
    meter = card(browser, account).find_element(By.CSS_SELECTOR, 'meter[data-model="gemini-2.5-flash"]')
    assert float(meter.get_attribute("value")) == 0
    assert actions(browser, account) == ["disable", "quota"]  # cooling is enabled: Disable fits

    recent_time = browser.find_element(By.CSS_SELECTOR, "#recent tr td")
    assert recent_time.text.endswith("+00:00") and recent_time.get_attribute("title")


# One script, so a re-render between reading the cards and their places cannot leave a stale element.
SHOWN = """return [...document.querySelectorAll("[data-account]")]
  .filter((card) => card.checkVisibility())
  .map((card) => [card.getBoundingClientRect(), card.dataset.account])
  .sort(([a], [b]) => a.y - b.y || a.x - b.x)
  .map(([, email]) => email);"""


def shown(browser) -> list[str]:
    """The accounts on screen, top to bottom."""
    return browser.execute_script(SHOWN)


def choose(browser, name: str, value: str) -> None:
    Select(browser.find_element(By.CSS_SELECTOR, f'[data-control="{name}"]')).select_by_value(value)


def test_the_compact_view_sorts_and_filters(browser, gateway, upstream):
    for email, fractions in (("ann@x.test", {"gemini-2.5-flash": 0.2}), ("bob@x.test", {"gemini-2.5-flash": 0.9})):
        account_id = add_account(gateway, upstream, email)
        gateway.store.update(account_id, models={m: {"remainingFraction": f} for m, f in fractions.items()})
    cid = add_account(gateway, upstream, "cyd@x.test")
    gateway.store.update(cid, models={"gemini-2.5-pro": {"remainingFraction": 0.5}}, enabled=0, disabled_reason="x")
    log_in(browser, gateway)
    browser.execute_script("localStorage.removeItem('console-compact')")
    reload(browser)
    wait_until(browser, lambda: len(shown(browser)) == 3, "accounts not shown")
    tall = card(browser, "ann@x.test").rect["height"]
    browser.find_element(By.CSS_SELECTOR, '[data-control="compact"]').click()
    assert "compact" in browser.find_element(By.ID, "accounts").get_attribute("class")
    assert card(browser, "ann@x.test").rect["height"] < tall / 2  # one row
    assert len({round(card(browser, e).rect["x"]) for e in ("ann@x.test", "bob@x.test", "cyd@x.test")}) == 1

    choose(browser, "state", "disabled")
    assert shown(browser) == ["cyd@x.test"]
    choose(browser, "state", "")
    browser.find_element(By.CSS_SELECTOR, '[data-control="email"]').send_keys("bob")
    assert shown(browser) == ["bob@x.test"]
    browser.find_element(By.CSS_SELECTOR, '[data-control="email"]').send_keys(Keys.BACKSPACE * 3)  # as typed
    wait_until(
        browser,
        lambda: "gemini-2.5-pro" in browser.find_element(By.CSS_SELECTOR, '[data-control="model"]').text,
        "no models",
    )
    choose(browser, "model", "gemini-2.5-pro")
    assert shown(browser) == ["cyd@x.test"]
    choose(browser, "model", "gemini-2.5-flash")
    choose(browser, "sort", "quota")
    assert shown(browser) == ["bob@x.test", "ann@x.test"]  # most quota left first
    choose(browser, "sort", "email")
    assert shown(browser) == ["ann@x.test", "bob@x.test"]
    reload(browser)  # the view chosen is kept
    wait_until(
        browser, lambda: browser.find_element(By.CSS_SELECTOR, '[data-control="compact"]').is_selected(), "view lost"
    )
    browser.execute_script("localStorage.removeItem('console-compact')")
