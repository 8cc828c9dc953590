"""The console in a real browser (Debian's chromium through chromium-driver, driven by selenium)."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import API_KEY, HELLO, accounts_by_email, add_account, quota_error
from tests.fake_upstream import Reply

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="chromium and chromium-driver are not installed (.ci/run installs them)"
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
)
WAIT = 20  # seconds: the page polls every 3 s, on a machine that may be busy


def new_browser(profile: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


@pytest.fixture(scope="module")
def browser():
    with tempfile.TemporaryDirectory(prefix="console-chromium-") as profile:
        driver = new_browser(profile)
        driver.set_page_load_timeout(30)
        yield driver
        driver.quit()


def log_in(browser, gateway, key: str = API_KEY) -> None:
    browser.delete_all_cookies()
    browser.get(gateway.url + "/console/login")
    browser.find_element(By.CSS_SELECTOR, 'input[type="password"]').send_keys(key)
    form_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()

    def answered(_driver) -> bool:
        """The login page was replaced: its element is gone (stale, or in Chromium's words, a node that "does not
        belong to the document" when asked mid-navigation)."""
        try:
            form_page.is_enabled()
        except WebDriverException:
            return True
        return False

    WebDriverWait(browser, WAIT).until(answered, "the login form was not answered")


def card(browser, email: str):
    return browser.find_element(By.CSS_SELECTOR, f'[data-account="{email}"]')


def field_text(browser, email: str, name: str) -> str:
    try:
        return card(browser, email).find_element(By.CSS_SELECTOR, f'[data-field="{name}"]').text
    except StaleElementReferenceException:
        return ""


def wait_until(browser, condition, message: str):
    return WebDriverWait(browser, WAIT, poll_frequency=0.25).until(lambda _: condition(), message)


def test_a_wrong_key_stays_on_the_login_form(browser, gateway, account):
    log_in(browser, gateway, "not-the-key")
    assert browser.current_url.endswith("/console/login")
    assert "not the admin key" in browser.find_element(By.CSS_SELECTOR, '[role="alert"]').text
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-account]")
    browser.get(gateway.url + "/console")
    assert browser.current_url.endswith("/console/login")


def test_the_pool_at_a_glance_updating_itself(browser, gateway, upstream):
    add_account(gateway, upstream, "alice@example.com")
    bob = add_account(gateway, upstream, "bob@example.com")
    gateway.store.update(bob, enabled=0, disabled_reason="invalid_grant: Token has been expired or revoked.")
    log_in(browser, gateway)
    assert browser.current_url.endswith("/console")
    assert field_text(browser, "alice@example.com", "state") == "active"
    assert field_text(browser, "bob@example.com", "state") == "disabled"
    assert "invalid_grant" in field_text(browser, "bob@example.com", "reason")
    assert field_text(browser, "alice@example.com", "tier") == "free-tier"

    browser.execute_script("window.notReloaded = true")
    upstream.script("streamGenerateContent", Reply(429, quota_error("90s")), account="alice@example.com")
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 429
    wait_until(browser, lambda: field_text(browser, "alice@example.com", "state") == "cooling", "no cooldown shown")
    assert browser.execute_script("return window.notReloaded") is True
    cooldowns = field_text(browser, "alice@example.com", "cooldowns")
    assert "gemini-2.5-flash" in cooldowns and "left" in cooldowns
    first = cooldowns
    wait_until(browser, lambda: field_text(browser, "alice@example.com", "cooldowns") != first, "no countdown")
    recent = browser.find_element(By.ID, "recent").text
    assert "alice@example.com" in recent and "429" in recent and "gemini-2.5-flash" in recent

    # A new account appears without a reload too.
    add_account(gateway, upstream, "carol@example.com")
    wait_until(browser, lambda: field_text(browser, "carol@example.com", "state") == "active", "no new account")
    assert browser.execute_script("return window.notReloaded") is True


def test_the_buttons_change_what_accounts_list_shows(browser, gateway, upstream, account):
    log_in(browser, gateway)

    def press(action: str) -> None:
        card(browser, account).find_element(By.CSS_SELECTOR, f'[data-action="{action}"]').click()

    press("disable")
    wait_until(browser, lambda: field_text(browser, account, "state") == "disabled", "not disabled on the page")
    assert accounts_by_email(gateway)[account]["state"] == "disabled"
    press("enable")
    wait_until(browser, lambda: field_text(browser, account, "state") == "active", "not enabled on the page")
    assert accounts_by_email(gateway)[account]["state"] == "active"
    assert not card(browser, account).find_elements(By.CSS_SELECTOR, "meter[data-model]")
    week = {"window": "weekly", "remainingFraction": 0.4}
    summary = {"groups": [{"displayName": "Gemini Pro", "buckets": [week]}]}
    upstream.script("retrieveUserQuotaSummary", Reply(json=summary))
    press("quota")
    meter = wait_until(
        browser,
        lambda: card(browser, account).find_elements(By.CSS_SELECTOR, 'meter[data-model="gemini-2.5-pro"]'),
        "no quota bar",
    )[0]
    assert float(meter.get_attribute("value")) == 1.0
    assert accounts_by_email(gateway)[account]["quota"]["gemini-2.5-pro"]["remainingFraction"] == 1.0
    assert len(upstream.calls_to("fetchAvailableModels", account)) == 1
    bucket = card(browser, account).find_element(By.CSS_SELECTOR, '[data-item="Gemini Pro/weekly"]')
    assert "Gemini Pro · weekly" in bucket.text and "40%" in bucket.text


def test_no_secret_in_the_dom_the_source_or_the_json(browser, gateway, upstream, account):
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO).status_code == 200
    log_in(browser, gateway)
    wait_until(browser, lambda: "alice@example.com" in browser.find_element(By.ID, "recent").text, "no request")
    secrets = [API_KEY, f"rt-{account}", *upstream.tokens]
    assert len(secrets) > 2
    state = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch('/console/api/state').then((r) => r.text()).then(done, (e) => done(String(e)));"
    )
    assert account in state
    dom = browser.execute_script("return document.documentElement.outerHTML")
    source = browser.execute_async_script(
        "const done = arguments[0]; fetch('/console').then((r) => r.text()).then(done, (e) => done(String(e)));"
    )
    cookies = browser.execute_script("return document.cookie")
    assert cookies == ""  # the session cookie is HttpOnly: no script on the page can read it
    for text in (dom, browser.page_source, source, state):
        for secret in secrets:
            assert secret not in text
