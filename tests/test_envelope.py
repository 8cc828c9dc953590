"""The v1internal envelope."""

from gateway.config import DEFAULT_USER_AGENT
from gateway.upstream.envelope import session_id, unwrap, wrap_count_tokens, wrap_generate

BODY = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "generationConfig": {"temperature": 0.2}}


def test_session_id_is_antigravitys_signed_fnv():
    # The offset basis alone, printed as a signed 64-bit integer (antigravity-gemini-spec §5.3).
    assert session_id("") == "-3750763034362895579"
    assert session_id("acct-1") == session_id("acct-1") != session_id("acct-2")


def test_generate_envelope_keeps_the_body_and_adds_what_upstream_needs():
    wrapped = wrap_generate(BODY, "gemini-2.5-flash", "proj-1", "a@example.com")
    assert wrapped["project"] == "proj-1"
    assert wrapped["model"] == "gemini-2.5-flash"
    assert wrapped["userAgent"] == DEFAULT_USER_AGENT  # the same versioned one as the User-Agent header
    assert wrapped["requestType"] == "agent"
    assert wrapped["requestId"].startswith("agent/")
    assert wrapped["request"] == {**BODY, "sessionId": session_id("a@example.com")}
    assert "sessionId" not in BODY  # the client's body is not mutated


def test_image_models_are_image_requests():
    assert wrap_generate(BODY, "gemini-3-pro-image", "p", "a")["requestType"] == "image_gen"


def test_count_tokens_both_forms():
    contents = [{"parts": [{"text": "Hello world"}]}]
    expected = {"request": {"model": "models/gemini-2.5-flash", "contents": contents}}
    assert wrap_count_tokens({"contents": contents}, "gemini-2.5-flash") == expected
    nested = {"generateContentRequest": {"model": "models/x", "contents": contents, "safetySettings": []}}
    assert wrap_count_tokens(nested, "gemini-2.5-flash") == expected


def test_unwrap():
    assert unwrap({"response": {"candidates": []}, "traceId": "t"}) == {"candidates": []}
    assert unwrap({"candidates": []}) == {"candidates": []}


def test_the_envelope_carries_the_configured_user_agent():
    agent = "antigravity/hub/2.9.1 darwin/arm64"
    assert wrap_generate(BODY, "gemini-2.5-flash", "p", "a", agent)["userAgent"] == agent
