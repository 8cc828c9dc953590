"""generateContent, streamGenerateContent and countTokens end to end: gunicorn + gevent -> fake Google."""

import json
import time

import pytest
import requests

from gateway.config import DEFAULT_USER_AGENT
from tests.conftest import API_KEY, HELLO, add_account
from tests.fake_upstream import Reply

FLASH = "/v1beta/models/gemini-2.5-flash"


def text_of(response: dict) -> str:
    return "".join(p.get("text", "") for p in response["candidates"][0]["content"]["parts"])


def sse_events(response: requests.Response) -> list[dict]:
    body = response.content.decode()
    assert body.endswith("\n\n")
    frames = body.split("\n\n")[:-1]
    assert all(frame.startswith("data: ") and "\n" not in frame for frame in frames), body
    return [json.loads(frame[6:]) for frame in frames]


def test_generate_wraps_for_upstream_and_unwraps_the_answer(gateway, upstream, account):
    response = gateway.post(f"{FLASH}:generateContent", HELLO)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert text_of(answer) == "Hello"
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"]["totalTokenCount"] == 5
    assert answer["modelVersion"] == "gemini-2.5-flash" and answer["responseId"].startswith("resp-")
    [call] = upstream.calls_to("streamGenerateContent")  # non-stream calls ride the upstream stream
    assert call.account == account
    assert call.headers["Authorization"].startswith("Bearer ya29.")
    envelope = call.body
    assert envelope["project"] == "proj-1" and envelope["model"] == "gemini-2.5-flash"
    assert envelope["userAgent"] == call.headers["User-Agent"] == DEFAULT_USER_AGENT  # versioned: Google gates on it
    assert envelope["requestType"] == "agent"
    assert envelope["requestId"].startswith("agent/")
    assert envelope["request"]["contents"] == HELLO["contents"]
    assert envelope["request"]["sessionId"]


def test_session_id_is_stable_and_request_id_unique(gateway, upstream, account):
    for _ in range(2):
        assert gateway.post(f"{FLASH}:generateContent", HELLO).status_code == 200
    first, second = (call.body for call in upstream.calls_to("streamGenerateContent"))
    assert first["request"]["sessionId"] == second["request"]["sessionId"]
    assert first["requestId"] != second["requestId"]


def test_body_fields_travel_unchanged_in_either_casing(gateway, upstream, account):
    body = {
        **HELLO,
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generationConfig": {"thinkingConfig": {"thinking_budget": 0}, "maxOutputTokens": 50},
        "safetySettings": [{"category": 7, "threshold": 4}],
        "toolConfig": {"functionCallingConfig": {"mode": 2}},
    }
    assert gateway.post(f"{FLASH}:generateContent", body).status_code == 200
    sent = upstream.calls_to("streamGenerateContent")[0].body["request"]
    assert {k: v for k, v in sent.items() if k != "sessionId"} == body


def test_non_stream_assembles_every_candidate_and_signature(gateway, upstream, account):
    upstream.script(
        "streamGenerateContent",
        Reply(
            events=[
                {
                    "candidates": [
                        {"index": 0, "content": {"role": "model", "parts": [{"text": "A", "thoughtSignature": "s1"}]}},
                        {"index": 1, "content": {"role": "model", "parts": [{"text": "B"}]}},
                    ],
                    "responseId": "r-9",
                    "modelVersion": "gemini-2.5-flash-001",
                },
                {
                    "candidates": [
                        {"index": 0, "content": {"role": "model", "parts": [{"text": "a"}]}, "finishReason": "STOP"},
                        {"index": 1, "content": {"role": "model", "parts": [{"text": "b"}]}, "finishReason": "STOP"},
                    ],
                    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 4, "totalTokenCount": 5},
                },
            ]
        ),
    )
    answer = gateway.post(f"{FLASH}:generateContent", HELLO).json()
    assert [c["content"]["parts"] for c in answer["candidates"]] == [
        [{"text": "Aa", "thoughtSignature": "s1"}],
        [{"text": "Bb"}],
    ]
    assert answer["responseId"] == "r-9" and answer["modelVersion"] == "gemini-2.5-flash-001"
    assert answer["usageMetadata"]["candidatesTokenCount"] == 4


def test_sse_stream_relays_each_event_and_adds_nothing(gateway, account):
    response = gateway.post(f"{FLASH}:streamGenerateContent?alt=sse", HELLO)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["X-Accel-Buffering"] == "no"
    events = sse_events(response)
    assert [text_of(e) for e in events] == ["Hel", "lo"]
    assert all("response" not in e and "traceId" not in e for e in events)
    assert "[DONE]" not in response.text


@pytest.mark.parametrize("query", ["", "?key=" + API_KEY])
def test_stream_without_alt_is_sse(gateway, account, query):
    """The seed tutorial's curl sends no alt and checks for text/event-stream."""
    response = gateway.post(f"{FLASH}:streamGenerateContent{query}", HELLO)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert [text_of(e) for e in sse_events(response)] == ["Hel", "lo"]


@pytest.mark.parametrize("query", ["%24alt=json%3Benum-encoding%3Dint", "alt=json"])
def test_stream_with_alt_json_is_a_json_array(gateway, account, query):
    """google-generativeai sends `$alt=json;enum-encoding=int` and reads a streamed JSON array."""
    response = gateway.post(f"{FLASH}:streamGenerateContent?{query}", HELLO)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.content.startswith(b"[{") and response.content.endswith(b"}]")
    assert [text_of(chunk) for chunk in response.json()] == ["Hel", "lo"]


def second_event_held_back() -> Reply:
    """Two events, the second sent two seconds after the first."""
    return Reply(
        events=[
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "first"}]}}]},
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "second"}]}, "finishReason": "STOP"}]},
        ],
        event_delay=2.0,
    )


def streamed(gateway, method: str) -> requests.Response:
    """A streamed request whose body is read as it comes."""
    url = gateway.url + f"{FLASH}:{method}"
    return requests.post(url, json=HELLO, headers={"x-goog-api-key": API_KEY}, stream=True, timeout=30)


def test_streams_are_relayed_as_they_arrive(gateway, upstream, account):
    upstream.script("streamGenerateContent", second_event_held_back())
    started = time.monotonic()
    with streamed(gateway, "streamGenerateContent?alt=sse") as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line)
        first_at = time.monotonic() - started
        second = next(line for line in lines if line)
        second_at = time.monotonic() - started
    assert b"first" in first and b"second" in second
    # The first event is in hand while the upstream still holds the second one back.
    assert first_at < 1.5 <= second_at


def test_json_array_stream_is_incremental_too(gateway, upstream, account):
    upstream.script("streamGenerateContent", second_event_held_back())
    with streamed(gateway, "streamGenerateContent?alt=json") as response:
        chunks = response.raw.stream(1024, decode_content=True)
        started = time.monotonic()
        first = next(chunks)
        assert b"first" in first and b"second" not in first
        rest = b"".join(chunks)
        assert time.monotonic() - started >= 1.5
    assert json.loads(first + rest)[1]["candidates"][0]["content"]["parts"][0]["text"] == "second"


def test_count_tokens_relays_the_real_count_in_both_body_forms(gateway, upstream, account):
    contents = [{"role": "user", "parts": [{"text": "one two three four"}]}]
    bare = gateway.post(f"{FLASH}:countTokens", {"contents": contents})
    nested = gateway.post(
        f"{FLASH}/countTokens",
        {"generateContentRequest": {"model": "models/gemini-2.5-flash", "contents": contents, "generationConfig": {}}},
    )
    assert bare.json() == nested.json() == {"totalTokens": 4}
    for call in upstream.calls_to("countTokens"):
        assert call.body == {"request": {"model": "models/gemini-2.5-flash", "contents": contents}}


def test_no_account_is_a_clear_503(gateway):
    response = gateway.post(f"{FLASH}:generateContent", HELLO)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["status"] == "UNAVAILABLE" and "gateway accounts import" in error["message"]


def test_expired_access_token_is_refreshed_before_use(gateway, upstream):
    add_account(gateway, upstream, "bob@example.com", expires_in=60)  # inside the refresh margin at once
    assert gateway.post(f"{FLASH}:generateContent", HELLO).status_code == 200
    assert gateway.post(f"{FLASH}:generateContent", HELLO).status_code == 200
    # Each token lives 60 s, under the 5-minute margin, so every request refreshes: proof that it checks.
    assert len(upstream.calls_to("token")) == 2


def test_missing_project_is_discovered_and_kept(gateway, upstream):
    upstream.add_account("rt-new", "new@example.com", project="proj-fresh", onboarded=False)
    gateway.store.upsert("new@example.com", "rt-new")
    assert gateway.post(f"{FLASH}:generateContent", HELLO).status_code == 200
    assert upstream.calls_to("streamGenerateContent")[0].body["project"] == "proj-fresh"
    assert len(upstream.calls_to("onboardUser")) == 1
    assert gateway.store.find("new@example.com").project == "proj-fresh"
