"""The console's numbers agree with `gateway accounts list`, each named for what it counts."""

from __future__ import annotations

import re

import pytest

from tests.conftest import HELLO, accounts_by_email, add_account, quota_error, wait_for
from tests.console_helper import console_session
from tests.fake_upstream import Reply

GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


@pytest.fixture(scope="module")
def counted(own_gateway):
    """A gateway of its own: its activity holds only this module's requests."""
    return own_gateway("console-counts")


def test_a_failed_over_request_counts_once_for_clients_and_once_per_account_upstream(counted, upstream):
    add_account(counted, upstream, "first@example.com")
    add_account(counted, upstream, "second@example.com")
    assert counted.post(GENERATE, HELLO).status_code == 200  # the conversation's account: the one it goes to first
    failed = next(
        e for e in ("first@example.com", "second@example.com") if upstream.calls_to("streamGenerateContent", e)
    )
    served = next(e for e in ("first@example.com", "second@example.com") if e != failed)
    upstream.script("streamGenerateContent", Reply(429, quota_error("90s")), account=failed)
    assert counted.post(GENERATE, HELLO).status_code == 200  # served by failover
    assert counted.get("/v1beta/models").status_code == 200  # a client request with no model: counted too
    session, _ = console_session(counted)

    def state() -> dict:
        return session.get(counted.url + "/console/api/state", timeout=10).json()

    def written(s: dict) -> bool:  # each worker writes its counts once a second
        return len(s["recent"]) == 3 and sum(a["upstream"]["requests"] for a in s["accounts"]) == 3

    seen = wait_for(lambda: (s := state()) and written(s) and s)
    assert seen["totals"]["requests"] == len(seen["recent"]) == 3  # the header counts what the list shows
    accounts = {a["email"]: a for a in seen["accounts"]}
    assert accounts[failed]["upstream"] == {"requests": 2, "failures": 1}
    assert accounts[served]["upstream"] == {"requests": 1, "failures": 0}
    assert accounts[failed]["usage_24h"]["requests"] == 1 and accounts[served]["usage_24h"]["requests"] == 1
    listed = accounts_by_email(counted)
    assert sum(u["requests"] for u in listed[failed]["usage"].values()) == 2
    table = counted.cli("accounts", "list").stdout
    line = next(line for line in table.splitlines() if failed in line)
    assert "upstream_requests=2 upstream_failed=1" in line
    page = session.get(counted.url + "/console", timeout=10).text
    card = page[page.index(f'data-account="{failed}"') :]
    assert re.search(r'data-field="upstream">2 upstream requests, 1 failed<', card)
    assert re.search(r'data-field="usage">1 client requests, 0 failed<', card)
    assert re.search(r'data-total="requests">3</b> client requests \(24 h\)', page)
