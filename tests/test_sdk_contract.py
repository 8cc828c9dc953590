"""The real Google SDKs against the real gateway: what users run must work as it does against Google."""

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.conftest import quota_error
from tests.fake_upstream import Reply
from tests.sdk_helper import genai_client, legacy, legacy_errors, point_legacy_at


@pytest.fixture(params=["v1beta", None], ids=["v1beta", "default-version"])
def client(request, gateway, account) -> genai.Client:
    return genai_client(gateway.url, **({"api_version": request.param} if request.param else {}))


@pytest.fixture
def legacy_model(gateway, account):
    point_legacy_at(gateway.url)
    return legacy.GenerativeModel("gemini-2.5-flash")


def test_genai_generate(client, upstream):
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Hello",
        config=types.GenerateContentConfig(
            system_instruction="be brief", temperature=0.2, thinking_config=types.ThinkingConfig(thinking_budget=0)
        ),
    )
    assert response.text == "Hello"
    assert response.usage_metadata.total_token_count == 5
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert (
        upstream.calls_to("streamGenerateContent")[0].body["request"]["systemInstruction"]["parts"][0]["text"]
        == "be brief"
    )


def test_genai_stream(client):
    chunks = list(client.models.generate_content_stream(model="models/gemini-2.5-flash", contents="Hello"))
    assert [chunk.text for chunk in chunks] == ["Hel", "lo"]


def test_genai_chat_keeps_history(client, upstream):
    chat = client.chats.create(model="gemini-2.5-flash")
    assert chat.send_message("Hello there").text == "Hello"
    assert chat.send_message("And again").text == "Hello"
    contents = upstream.calls_to("streamGenerateContent")[-1].body["request"]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]


def test_genai_count_tokens(client):
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="one two three").total_tokens == 3


def test_genai_list_and_get_models(client):
    names = [model.name for model in client.models.list(config={"page_size": 4})]
    assert "models/gemini-2.5-flash" in names and len(names) == len(set(names)) > 4
    model = client.models.get(model="gemini-2.5-flash")
    assert model.name == "models/gemini-2.5-flash"
    assert "generateContent" in model.supported_actions and model.input_token_limit > 0


def test_genai_errors_keep_googles_codes(client, upstream):
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-9-nonexistent", contents="Hello")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    upstream.script("streamGenerateContent", Reply(status=429, json=quota_error("20s", message="quota")))
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="Hello")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"


def test_genai_stream_error_after_first_chunk_raises_server_error(client, upstream):
    upstream.script(
        "streamGenerateContent",
        Reply(
            events=[
                {"candidates": [{"content": {"role": "model", "parts": [{"text": "partial"}]}}]},
                {"error": {"code": 500, "message": "upstream died", "status": "INTERNAL"}},
            ]
        ),
    )
    texts = []
    with pytest.raises(genai_errors.ServerError):
        for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hello"):
            texts.append(chunk.text)
    assert texts == ["partial"]


def test_legacy_generate(legacy_model):
    assert legacy_model.generate_content("Hello").text == "Hello"


def test_legacy_stream(legacy_model):
    response = legacy_model.generate_content("Hello", stream=True)
    assert [chunk.text for chunk in response] == ["Hel", "lo"]
    assert response.text == "Hello"


def test_legacy_chat_and_config(legacy_model, upstream):
    model = legacy.GenerativeModel(
        "gemini-2.5-flash",
        system_instruction="be brief",
        generation_config={"max_output_tokens": 64, "temperature": 0.3},
        safety_settings={"HARASSMENT": "BLOCK_NONE"},
    )
    chat = model.start_chat()
    assert chat.send_message("Hello there").text == "Hello"
    sent = upstream.calls_to("streamGenerateContent")[-1].body["request"]
    assert sent["safetySettings"] == [{"category": 7, "threshold": 4}]


def test_legacy_count_tokens(legacy_model):
    assert legacy_model.count_tokens("one two three four five").total_tokens == 5


def test_legacy_list_and_get_models(legacy_model):
    models = list(legacy.list_models(page_size=3))
    assert "models/gemini-2.5-flash" in [m.name for m in models] and len(models) > 3
    model = legacy.get_model("models/gemini-2.5-flash")
    assert "generateContent" in model.supported_generation_methods


def test_legacy_errors(legacy_model):
    with pytest.raises(legacy_errors.NotFound):
        legacy.GenerativeModel("gemini-9-nonexistent").generate_content("Hello")
