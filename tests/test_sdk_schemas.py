"""The SDKs' tool and structured-output flows, through the gateway, to a fake as strict as Google about schemas.

Each flow is also sent through a gateway with the schema rules switched off: the strict fake refuses it there,
so the 200 through the real gateway is the translation's doing.
"""

import asyncio
import json
from typing import NamedTuple, Optional

import pytest
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, Field

from tests.conftest import add_account, emptied
from tests.fake_upstream import FakeGoogle, answer, schema_errors
from tests.sdk_helper import genai_client, legacy, point_legacy_at

WEATHER_CALL = {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 2}}}


class Address(BaseModel):
    street: str
    zip: str | None = None


class Person(BaseModel):
    name: str = Field(description="full name")
    age: int = Field(default=3, ge=0)
    home: Address
    work: Address | None = None


PERSON = {"name": "Ann", "age": 40, "home": {"street": "Main St"}}


class Route(NamedTuple):
    url: str
    translated: bool  # whether the schema rules run


@pytest.fixture(scope="module")
def untranslated(own_gateway):
    """A second gateway that sends schemas as the clients wrote them."""
    return own_gateway("untranslated", GATEWAY_WORKERS="1", GATEWAY_TRANSLATE_OFF="tool_schemas,response_schema")


@pytest.fixture(params=["translated", "untranslated"])
def route(request, gateway, upstream):
    """A gateway with or without the schema rules, one account behind it."""
    served = gateway if request.param == "translated" else emptied(request.getfixturevalue("untranslated"))
    add_account(served, upstream, "alice@example.com")
    return Route(served.url, request.param == "translated")


def generate(route: Route, upstream: FakeGoogle, model: str, contents: str, config, asynchronous: bool = False):
    """generate_content through `route`: translated it must succeed; untranslated, the fake's 400 reaches the client."""
    client = genai_client(route.url)
    request = {"model": model, "contents": contents, "config": config}

    def run():
        if asynchronous:
            return asyncio.run(client.aio.models.generate_content(**request))
        return client.models.generate_content(**request)

    if route.translated:
        return run()
    with pytest.raises(genai_errors.ClientError) as refused:
        run()
    assert refused.value.code == 400 and refused.value.status == "INVALID_ARGUMENT"
    (sent,) = upstream.calls_to("streamGenerateContent")
    assert refused.value.message == schema_errors(sent.body)  # refused for its schemas, and for nothing else
    return None


def sent_schemas(upstream) -> list[dict]:
    return [c.body["request"] for c in upstream.calls_to("streamGenerateContent")]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-6"])
def test_genai_automatic_function_calling(route, upstream, model, asynchronous):
    translated = route.translated
    asked = []

    def get_weather(city: str, days: int = 3, unit: Optional[str] = None) -> str:  # noqa: UP045 - as users write it
        """Weather for a city."""
        asked.append((city, days, unit))
        return f"sunny in {city}"

    # Claude's answers carry an id for each call (v1internal-rules.md §3); Gemini's may too
    upstream.script("streamGenerateContent", answer({"functionCall": {**WEATHER_CALL["functionCall"], "id": "call-1"}}))
    config = types.GenerateContentConfig(tools=[get_weather])
    response = generate(route, upstream, model, "Weather?", config, asynchronous)
    if not translated:
        assert asked == []
        return
    assert response.text == "Hello" and asked == [("Paris", 2, None)]
    first, second = sent_schemas(upstream)
    assert first["tools"] == second["tools"]
    parameters = first["tools"][0]["functionDeclarations"][0]["parameters"]
    assert parameters["properties"]["days"] == {"type": "integer", "description": "default: 3"}
    reply = second["contents"][-1]["parts"][0]["functionResponse"]
    assert reply["name"] == "get_weather" and reply["response"] == {"result": "sunny in Paris"}
    assert second["contents"][-2]["parts"][0]["functionCall"]["args"] == {"city": "Paris", "days": 2}


def test_genai_parameters_json_schema_tool(route, upstream):
    translated = route.translated
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["n"],
        "additionalProperties": False,
    }
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(name="pick", parameters_json_schema=schema)])
    config = types.GenerateContentConfig(tools=[tool])
    response = generate(route, upstream, "gemini-2.5-flash", "Pick", config)
    if translated:
        assert response.text == "Hello"
        parameters = sent_schemas(upstream)[0]["tools"][0]["functionDeclarations"][0]["parameters"]
        assert parameters["properties"]["n"] == {"type": "integer", "minimum": 1}
        assert parameters["description"] == "additionalProperties: false"


@pytest.mark.parametrize("spelling", ["response_schema", "response_json_schema"])
def test_genai_structured_output(route, upstream, spelling):
    translated = route.translated
    upstream.script("streamGenerateContent", answer({"text": json.dumps(PERSON)}))
    schema = Person if spelling == "response_schema" else Person.model_json_schema()
    config = types.GenerateContentConfig(response_mime_type="application/json", **{spelling: schema})
    response = generate(route, upstream, "gemini-2.5-flash", "Ann", config)
    if translated:
        parsed = response.parsed if spelling == "response_schema" else Person.model_validate(response.parsed)
        assert parsed == Person.model_validate(PERSON)
        generation = sent_schemas(upstream)[0]["generationConfig"]
        assert generation["responseMimeType"] == "application/json" and set(generation) == {
            "responseMimeType",
            "responseSchema",
        }
        assert generation["responseSchema"]["properties"]["home"]["properties"]["street"]["type"].lower() == "string"


def test_legacy_automatic_function_calling(gateway, upstream, account):
    asked = []

    def get_weather(city: str, days: int = 3) -> str:
        """Weather for a city."""
        asked.append((city, days))
        return f"sunny in {city}"

    upstream.script("streamGenerateContent", answer(WEATHER_CALL))
    point_legacy_at(gateway.url)
    chat = legacy.GenerativeModel("gemini-2.5-flash", tools=[get_weather]).start_chat(
        enable_automatic_function_calling=True
    )
    assert chat.send_message("Weather?").text == "Hello"
    assert asked == [("Paris", 2)]
    first, second = sent_schemas(upstream)
    # google-generativeai sends the proto's own Schema (enum numbers): valid as it is, and left so
    assert first["tools"][0]["functionDeclarations"][0]["parameters"] == {
        "type": 6,
        "properties": {"city": {"type": 1}, "days": {"type": 3}},
        "required": ["city"],
    }
    assert second["contents"][-1]["parts"][0]["functionResponse"]["response"] == {"result": "sunny in Paris"}
