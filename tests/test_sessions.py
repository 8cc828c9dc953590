"""Cloud Code sessions per (account, conversation, generation): a full one is replaced, never poisons an account."""

import json

import requests

from gateway.accounts.pool import fingerprint
from gateway.accounts.sessions import SqliteSessions, session_key
from gateway.accounts.store import Store
from gateway.upstream.envelope import session_id
from gateway.upstream.errors import SessionFull, classify
from tests.conftest import API_KEY, accounts_by_email, hosts_on_one_redis, request_lines
from tests.fake_upstream import google_error
from tests.test_observability import metric

FLASH = "/v1beta/models/gemini-2.5-flash:generateContent"
WORDS = 15  # the fake counts input as words of text
TEXT = " ".join(f"w{n}" for n in range(WORDS - 1))


def conversation(topic: str) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": f"{topic} {TEXT}"}]}]}


def sessions_sent(upstream) -> list[str]:
    return [call.body["request"]["sessionId"] for call in upstream.calls_to("streamGenerateContent")]


def post(gateway, body: dict, request_id: str) -> requests.Response:
    # a new connection each time: the kernel spreads them over both workers
    headers = {"x-goog-api-key": API_KEY, "Connection": "close", "X-Request-Id": request_id}
    return requests.post(gateway.url + FLASH, json=body, headers=headers, timeout=30)


def test_the_ceiling_answer_is_recognised():
    message = "The input token count exceeds the maximum number of tokens allowed 1048576."
    assert isinstance(classify(400, json.dumps(google_error(400, message, "INVALID_ARGUMENT"))), SessionFull)


def test_a_rotation_is_once_however_many_saw_the_session_fill(tmp_path):
    store = Store(tmp_path / "gateway.db")
    first, second = SqliteSessions(store), SqliteSessions(Store(store.path))  # two workers
    assert first.generation("a@example.com", "conv") == 0
    assert first.rotate("a@example.com", "conv", 0) == 1
    assert second.rotate("a@example.com", "conv", 0) == 1  # it saw generation 0 fill up too: no second bump
    assert second.generation("a@example.com", "conv") == first.generation("a@example.com", "conv") == 1
    assert first.generation("a@example.com", "other") == first.generation("b@example.com", "conv") == 0


def test_each_conversation_has_its_own_session_on_an_account(gateway, upstream, account):
    for topic in ("Tides", "Tides", "Volcanoes"):
        assert gateway.post(FLASH, conversation(topic)).status_code == 200
    first, again, other = sessions_sent(upstream)
    assert first == again != other


def check_rotation(gateway, upstream, prefix: str) -> None:
    """Generation 0 takes 3 requests under a ceiling of 45; the 4th is retried once in generation 1, which
    the next requests use, from whichever worker (and host) they reach."""
    upstream.session_ceiling = 3 * WORDS
    before = metric(gateway.get("/metrics").text, "gateway_session_rotations_total")
    body = conversation("Glaciers")
    for n in range(6):
        response = post(gateway, body, f"{prefix}-{n}")
        assert response.status_code == 200, response.text
    s0, s1 = (session_id(session_key("alice@example.com", fingerprint(body), n)) for n in (0, 1))
    assert sessions_sent(upstream) == [s0, s0, s0, s0, s1, s1, s1]
    assert metric(gateway.get("/metrics").text, "gateway_session_rotations_total") - before == 1
    [rotated] = request_lines(gateway, f"{prefix}-3")
    assert rotated["session_rotated"] is True and rotated["status"] == 200 and rotated["attempts"] == 1
    assert [line["session_rotated"] for line in request_lines(gateway, f"{prefix}-4")] == [False]


def test_a_full_session_is_replaced_and_retried_once_on_the_same_account(gateway, upstream, account):
    check_rotation(gateway, upstream, "rotation-sqlite")


def test_the_new_session_holds_on_every_host_through_redis(google, upstream, tmp_path):
    with hosts_on_one_redis(google, tmp_path, ("alice@example.com",)) as hosts:
        upstream.add_account("rt-alice@example.com", "alice@example.com")
        upstream.session_ceiling = 2 * WORDS
        body = conversation("Deserts")
        statuses = [post(host, body, f"redis-rotation-{n}").status_code for n, host in enumerate(hosts * 2)]
        assert statuses == [200] * 4
        s0, s0_, s0_full, s1, s1_ = sessions_sent(upstream)  # a, b, then a fills it and rotates, then b
        assert s0 == s0_ == s0_full != s1 == s1_  # host b uses the session host a started


def test_a_request_too_large_for_any_session_gets_the_400(gateway, upstream, account):
    upstream.session_ceiling = WORDS - 1
    response = gateway.post(FLASH, conversation("Oceans"))
    assert response.status_code == 400 and "input token count exceeds" in response.json()["error"]["message"]
    assert len(upstream.calls_to("streamGenerateContent")) == 2  # the first session, then one new one
    assert accounts_by_email(gateway)["alice@example.com"]["state"] == "active"  # nothing benched
