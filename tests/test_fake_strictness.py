"""The fake Google refuses what the real v1internal refuses, with Google's texts (fake_upstream.py, strict part)."""

import json

import pytest
import requests

from tests.fake_upstream import CLIENT_FORM, ClientGate, FakeGoogle

USER = {"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}
CALL = {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}
ANSWER = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}]}


@pytest.fixture
def bearer(upstream: FakeGoogle) -> str:
    upstream.add_account("rt-strict", "strict@example.com")
    form = {"grant_type": "refresh_token", "refresh_token": "rt-strict", **CLIENT_FORM}
    return requests.post(upstream.token_url, data=form, timeout=5).json()["access_token"]


def generate(upstream, bearer, model, request, agent="antigravity/2.9.1 darwin/arm64", method="generateContent"):
    envelope = {"model": model, "project": "proj-1", "request": request}
    headers = {"Authorization": f"Bearer {bearer}", "User-Agent": agent}
    return requests.post(f"{upstream.url}/v1internal:{method}", json=envelope, headers=headers, timeout=5)


def refused(response: requests.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["message"]


def with_ids(*contents: dict) -> list[dict]:
    contents = json.loads(json.dumps(contents))
    for content in contents:
        for part in content["parts"]:
            for kind in ("functionCall", "functionResponse"):
                if kind in part:
                    part[kind]["id"] = "toolu_1"
    return contents


def test_claude_calls_need_ids_that_pair(upstream, bearer):
    message = refused(generate(upstream, bearer, "claude-sonnet-4-6", {"contents": [USER, CALL, ANSWER]}))
    assert json.loads(message)["error"]["message"] == "messages.1.content.0.tool_use.id: Field required"
    unpaired = with_ids(USER, CALL, ANSWER)
    unpaired[2]["parts"][0]["functionResponse"]["id"] = "toolu_other"
    assert "unexpected `tool_use_id`" in refused(
        generate(upstream, bearer, "claude-sonnet-4-6", {"contents": unpaired})
    )
    paired = {"contents": with_ids(USER, CALL, ANSWER)}
    assert generate(upstream, bearer, "claude-sonnet-4-6", paired).status_code == 200
    assert generate(upstream, bearer, "gemini-2.5-flash", {"contents": [USER, CALL, ANSWER]}).status_code == 200


def test_claude_refuses_prefill(upstream, bearer):
    request = {"contents": [USER, {"role": "model", "parts": [{"text": "It is"}]}]}
    assert "does not support assistant message prefill" in refused(
        generate(upstream, bearer, "claude-opus-4-6-thinking", request)
    )
    assert generate(upstream, bearer, "gemini-2.5-flash", request).status_code == 200


@pytest.mark.parametrize(
    ("model", "text"),
    [
        ("gemini-2.5-flash", "Thinking level is not supported for this model."),
        ("claude-sonnet-4-6-thinking", "Thinking level is not supported for this model."),
        ("gemini-3-pro-high", "Thinking level LOW is not supported for this model."),
    ],
)
def test_thinking_level_is_refused_where_google_refuses_it(upstream, bearer, model, text):
    request = {"contents": [USER], "generationConfig": {"thinkingConfig": {"thinking_level": "low"}}}
    response = generate(upstream, bearer, model, request)
    assert refused(response) == text and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert generate(upstream, bearer, "gemini-3-pro-preview", request).status_code == 200


def test_claude_needs_max_output_tokens_above_the_budget(upstream, bearer):
    config = {"thinkingConfig": {"thinkingBudget": 8192}, "maxOutputTokens": 8192}
    response = generate(
        upstream, bearer, "claude-sonnet-4-6-thinking", {"contents": [USER], "generationConfig": config}
    )
    assert "must be greater than `thinking.budget_tokens`" in refused(response)


def test_search_with_functions_is_refused(upstream, bearer):
    tools = [{"googleSearch": {}}, {"functionDeclarations": [{"name": "get_weather"}]}]
    response = generate(upstream, bearer, "gemini-2.5-flash", {"contents": [USER], "tools": tools})
    assert refused(response) == "Multiple tools are supported only when they are all search tools."
    assert generate(upstream, bearer, "gemini-2.5-flash", {"contents": [USER], "tools": tools[:1]}).status_code == 200


def test_a_leading_model_turn_is_refused_on_gemini(upstream, bearer):
    request = {"contents": [{"role": "model", "parts": [{"text": "Hi, I am a bot"}]}, USER]}
    assert "alternate between user and model" in refused(generate(upstream, bearer, "gemini-2.5-flash", request))


def test_the_version_gate_when_a_test_sets_one(upstream, bearer):
    assert generate(upstream, bearer, "gemini-2.5-flash", {"contents": [USER]}, agent="antigravity/1.0.0 x/y").ok
    upstream.client_gate = ClientGate(
        oldest="1.11.9", status=403, newer_models=("gemini-3.1-pro-high",), models_from="2.9.0"
    )
    old = generate(upstream, bearer, "gemini-2.5-flash", {"contents": [USER]}, agent="antigravity/1.11.5 windows/amd64")
    assert "This version of Antigravity is no longer supported" in refused(old, 403)
    middle = "antigravity/2.0.1 darwin/arm64"
    assert generate(upstream, bearer, "gemini-2.5-flash", {"contents": [USER]}, agent=middle).ok
    response = generate(upstream, bearer, "gemini-3.1-pro-high", {"contents": [USER]}, agent=middle)
    assert refused(response, 404) == "Requested entity was not found."
    assert generate(upstream, bearer, "gemini-3.1-pro-high", {"contents": [USER]}).ok
    upstream.reset()
    assert upstream.client_gate is None
