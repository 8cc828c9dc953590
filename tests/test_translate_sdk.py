"""Translation end to end: the real google-genai SDK → the gateway → the strict fake Google."""

import json
import re
import time

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.conftest import HELLO, add_account
from tests.fake_upstream import ClientGate, answer
from tests.sdk_helper import genai_client

WEATHER_CALL = {"name": "get_weather", "args": {"city": "Paris"}}


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
def client(gateway, account) -> genai.Client:
    return genai_client(gateway.url)


def sent(upstream) -> list[dict]:
    """The envelopes that reached the fake's generate method."""
    return [call.body for call in upstream.calls_to("streamGenerateContent")]


def camel(message: dict) -> dict:
    """Keys in camelCase: google-genai writes some nested fields in snake_case (thinking_config's members)."""
    return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key): value for key, value in message.items()}


@pytest.mark.parametrize(
    ("model", "call_id"), [("claude-sonnet-4-6", "call_get_weather_0"), ("gemini-2.5-flash", None)]
)
def test_automatic_function_calling(client, upstream, model, call_id):
    upstream.script("streamGenerateContent", answer({"functionCall": WEATHER_CALL}), answer({"text": "It is sunny."}))
    config = types.GenerateContentConfig(tools=[get_weather])
    response = client.models.generate_content(model=model, contents="Weather in Paris?", config=config)
    assert response.text == "It is sunny."
    first, second = sent(upstream)
    assert first["model"] == second["model"] == model
    call, result = (second["request"]["contents"][i]["parts"][0] for i in (1, 2))
    # Claude needs ids that pair (the strict fake refuses them missing); Gemini's history is left as sent.
    assert call["functionCall"].get("id") == result["functionResponse"].get("id") == call_id
    assert result["functionResponse"]["name"] == "get_weather"


@pytest.mark.parametrize(("model", "budget"), [("gemini-2.5-flash", 24576), ("gemini-3-pro-high", 32768)])
def test_thinking_level_where_the_model_takes_none(client, upstream, model, budget):
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(thinking_level="HIGH", include_thoughts=True)
    )
    assert client.models.generate_content(model=model, contents="Think", config=config).text == "Hello"
    thinking = camel(sent(upstream)[0]["request"]["generationConfig"]["thinkingConfig"])
    assert thinking == {"thinkingBudget": budget, "includeThoughts": True}


def test_gemini_3_keeps_its_thinking_level(client, upstream):
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_level="LOW"))
    assert client.models.generate_content(model="gemini-3-pro-preview", contents="Think", config=config).text == "Hello"
    assert camel(sent(upstream)[0]["request"]["generationConfig"]["thinkingConfig"]) == {"thinkingLevel": "LOW"}


def test_an_image_model_with_suffixes(client, upstream):
    config = types.GenerateContentConfig(
        system_instruction="You draw.",
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(image_size="2K"),
    )
    client.models.generate_content(model="gemini-3-pro-image-preview-16x9-4k", contents="A lighthouse", config=config)
    (envelope,) = sent(upstream)
    assert envelope["model"] == "gemini-3-pro-image-preview" and envelope["requestType"] == "image_gen"
    request = envelope["request"]
    assert "systemInstruction" not in request
    # The body's own imageSize wins over the id's -4k; the id gives the aspect ratio.
    assert request["generationConfig"] == {"imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"}}


def test_online_adds_google_search(client, gateway, upstream):
    assert client.models.generate_content(model="gemini-2.5-flash-online", contents="News?").text == "Hello"
    (envelope,) = sent(upstream)
    assert envelope["model"] == "gemini-2.5-flash" and envelope["request"]["tools"] == [{"googleSearch": {}}]
    assert client.models.count_tokens(model="gemini-2.5-flash-online", contents="one two").total_tokens == 2
    assert upstream.calls_to("countTokens")[0].body["request"]["model"] == "models/gemini-2.5-flash"
    time.sleep(0.2)  # the request log line is written as the response ends
    with gateway.log_path.open() as log:
        logged = [json.loads(line) for line in log if "-online:" in line and '"gateway.request"' in line]
    assert [line["model"] for line in logged[-2:]] == ["gemini-2.5-flash"] * 2  # the model actually sent


def test_search_with_functions_is_refused_before_upstream(client, upstream):
    config = types.GenerateContentConfig(tools=[get_weather, types.Tool(google_search=types.GoogleSearch())])
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="Weather?", config=config)
    assert caught.value.code == 400 and "functionDeclarations" in caught.value.message
    assert sent(upstream) == []


def test_claude_prefill_is_refused_before_upstream(client, upstream):
    contents = [types.UserContent("Hi"), types.ModelContent("Well,")]
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="claude-sonnet-4-6", contents=contents)
    assert caught.value.code == 400 and "prefill" in caught.value.message
    assert sent(upstream) == []


def test_a_leading_model_turn_gets_a_user_turn(gateway, account, upstream):
    body = {"contents": [{"role": "model", "parts": [{"text": "Hi, I am a bot"}]}, *HELLO["contents"]]}
    assert gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", body).status_code == 200
    assert [c["role"] for c in sent(upstream)[0]["request"]["contents"]] == ["user", "model", "user"]


def test_the_version_gate_benches_no_account(gateway, upstream):
    add_account(gateway, upstream, "a@example.com")
    add_account(gateway, upstream, "b@example.com")
    upstream.client_gate = ClientGate(oldest="9.0.0", status=403)  # as if Google moved past our default
    response = gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO)
    assert response.status_code == 503 and response.json()["error"]["status"] == "UNAVAILABLE"
    assert "GATEWAY_USER_AGENT" in response.json()["error"]["message"]
    assert len(sent(upstream)) == 1  # every account would hear the same: none other is tried
    listed = json.loads(gateway.cli("accounts", "list", "--json").stdout)
    assert {row["state"] for row in listed} == {"active"}


def test_the_version_gate_during_project_discovery_says_what_to_change(gateway, upstream):
    add_account(gateway, upstream, "new@example.com", project="")  # its project is yet to be discovered
    upstream.client_gate = ClientGate(oldest="9.0.0")
    response = gateway.post("/v1beta/models/gemini-2.5-flash:generateContent", HELLO)
    assert response.status_code == 503 and "GATEWAY_USER_AGENT" in response.json()["error"]["message"]
    assert [call.method for call in upstream.calls if call.method != "token"] == ["loadCodeAssist"]


@pytest.fixture(scope="module")
def old_client(own_gateway):
    """A gateway sending an outdated User-Agent, with the leading_user rule switched off."""
    return own_gateway(
        "old-client", GATEWAY_USER_AGENT="antigravity/1.11.5 windows/amd64", GATEWAY_TRANSLATE_OFF="leading_user"
    )


def test_an_old_client_gets_503_and_the_log_says_it_once_a_minute(old_client, upstream):
    add_account(old_client, upstream, "a@example.com")
    upstream.client_gate = ClientGate(oldest="1.11.9", newer_models=("gemini-3-pro-high",), models_from="2.9.0")
    for model in ("gemini-2.5-flash", "gemini-3-pro-high", "gemini-2.5-flash", "gemini-3-pro-high"):
        response = old_client.post(f"/v1beta/models/{model}:generateContent", HELLO)
        assert response.status_code == 503 and "GATEWAY_USER_AGENT" in response.json()["error"]["message"]
    upstream.client_gate = ClientGate(oldest="1.0.0", newer_models=("gemini-3-pro-high",), models_from="2.9.0")
    response = old_client.post("/v1beta/models/gemini-3-pro-high:generateContent", HELLO)  # the model's 404
    assert response.status_code == 503 and "Requested entity was not found" in response.json()["error"]["message"]
    time.sleep(0.2)
    with old_client.log_path.open() as lines:
        gate_lines = [json.loads(line) for line in lines if "GATEWAY_USER_AGENT" in line and '"level"' in line]
    assert 1 <= len(gate_lines) <= 2  # once a minute in each of the 2 workers
    assert {line["level"] for line in gate_lines} == {"error"}


def test_a_rule_switched_off_lets_googles_refusal_through(old_client, upstream):
    add_account(old_client, upstream, "a@example.com")
    body = {"contents": [{"role": "model", "parts": [{"text": "Hi, I am a bot"}]}, *HELLO["contents"]]}
    response = old_client.post("/v1beta/models/gemini-2.5-flash:generateContent", body)
    assert response.status_code == 400 and "alternate between user and model" in response.json()["error"]["message"]
