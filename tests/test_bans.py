"""Terms of Service bans: a 403 with an appeal link disables the account, keeps the link, and the next one serves."""

import json

import pytest

from gateway.upstream.errors import Banned, Forbidden, classify
from tests.conftest import HELLO, accounts_by_email, add_account, hosts_on_one_redis
from tests.console_helper import console_session
from tests.fake_upstream import BAN_MESSAGE, google_error

FLASH = "/v1beta/models/gemini-2.5-flash:generateContent"
APPEAL = "https://support.google.com/gemini/contact/tos_appeal?account=a"


def conversation(n: int) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": f"Conversation number {n}, about bans"}]}]}


def forbidden(message: str, **metadata: str) -> str:
    error = google_error(403, message, "PERMISSION_DENIED")
    if metadata:
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "TOS_VIOLATION", "metadata": metadata}
        error["error"]["details"] = [info]
    return json.dumps(error)


@pytest.mark.parametrize(
    ("body", "link"),
    [
        (forbidden(BAN_MESSAGE, appeal_url=APPEAL), APPEAL),
        (forbidden(f"{BAN_MESSAGE} Appeal at https://forms.gle/AbC123xyz."), "https://forms.gle/AbC123xyz"),
        (
            forbidden("Disabled. See https://support.google.com/a/answer/1 for help"),
            "https://support.google.com/a/answer/1",
        ),
    ],
)
def test_a_403_with_an_appeal_link_is_a_ban(body, link):
    error = classify(403, body)
    assert isinstance(error, Banned) and error.appeal_url == link and error.retry_elsewhere


@pytest.mark.parametrize(
    "body",
    [
        forbidden("Cloud Code Assist API has not been used in project p before or it is disabled."),
        forbidden("Verify your account at https://accounts.google.com/signin/continue", validation_link="https://x"),
        forbidden("See https://evil.example/forms.gle/x", appeal_url="javascript:alert(1)"),
    ],
)
def test_other_403s_are_not_bans(body):
    error = classify(403, body)
    assert isinstance(error, Forbidden) and not isinstance(error, Banned)


def test_a_banned_account_is_disabled_with_its_appeal_link_and_the_next_serves(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    add_account(gateway, upstream, "b@example.com")
    upstream.banned["a@example.com"] = APPEAL
    for n in range(6):  # conversations spread over both accounts: a is tried once, b serves every one
        assert gateway.post(FLASH, conversation(n)).status_code == 200
    assert len(upstream.calls_to("streamGenerateContent", "a@example.com")) == 1
    rows = accounts_by_email(gateway)
    banned, other = rows["a@example.com"], rows["b@example.com"]
    assert banned["state"] == "disabled" and banned["disabled_reason"] == f"banned: {BAN_MESSAGE}"
    assert banned["appeal_url"] == APPEAL
    assert other["state"] == "active" and other["appeal_url"] is None
    listed = gateway.cli("accounts", "list").stdout
    assert f"appeal={APPEAL}" in next(line for line in listed.splitlines() if "a@example.com" in line)


def test_the_console_links_to_the_appeal(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    add_account(gateway, upstream, "b@example.com")
    upstream.banned["a@example.com"] = APPEAL
    for n in range(6):
        gateway.post(FLASH, conversation(n))
    session, _ = console_session(gateway)
    state = session.get(gateway.url + "/console/api/state", timeout=10).json()
    assert {a["email"]: a["appeal_url"] for a in state["accounts"]} == {"a@example.com": APPEAL, "b@example.com": None}
    page = session.get(gateway.url + "/console", timeout=10).text
    card = page[page.index('data-account="a@example.com"') :].split("</article>")[0]
    assert f'href="{APPEAL}"' in card.replace("&amp;", "&") and 'data-field="appeal" hidden' not in card


def test_enabling_a_banned_account_forgets_its_appeal_link(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    upstream.banned["a@example.com"] = APPEAL
    assert gateway.post(FLASH, HELLO).status_code == 403
    del upstream.banned["a@example.com"]  # the appeal succeeded
    assert gateway.cli("accounts", "enable", "a@example.com").returncode == 0
    row = accounts_by_email(gateway)["a@example.com"]
    assert (row["state"], row["appeal_url"]) == ("active", None)
    assert gateway.post(FLASH, HELLO).status_code == 200


def test_a_ban_and_a_geo_block_seen_by_one_host_show_on_the_other(google, upstream, tmp_path):
    emails = ("banned@example.com", "blocked@example.com")
    with hosts_on_one_redis(google, tmp_path, emails) as hosts:
        for email in emails:
            upstream.add_account(f"rt-{email}", email)
        upstream.banned["banned@example.com"] = APPEAL
        upstream.geo_blocked.add("blocked@example.com")
        for n in range(4):
            hosts[0].post(FLASH, conversation(n))
        rows = accounts_by_email(hosts[1])  # host b never called Google
        assert rows["banned@example.com"]["appeal_url"] == APPEAL
        assert rows["banned@example.com"]["disabled_reason"].startswith("banned: ")
        assert rows["blocked@example.com"]["last_geo_block"] is not None
        assert rows["blocked@example.com"]["state"] == "active"
