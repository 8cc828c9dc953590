"""Tool and response schemas: what the SDKs really send, rebuilt into what the strict proto parser accepts."""

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, Optional

import pytest
from google.genai import types
from pydantic import BaseModel, Field

from gateway.config import Settings, SettingsError
from gateway.upstream.translate import Target, active_rules, translate
from gateway.upstream.translate.schemas import clean_schema, response_schema, tool_schemas
from tests.fake_upstream import schema_errors
from tests.sdk_helper import genai_client, legacy, point_legacy_at

ALLOWED = {"type", "format", "title", "description", "nullable", "enum", "items", "properties", "required", "anyOf"}
ALLOWED |= {"minItems", "maxItems", "minimum", "maximum"}
ANSWER = {"candidates": [{"content": {"role": "model", "parts": [{"text": "{}"}]}, "finishReason": "STOP"}]}


class Recorder:
    """A loopback stand-in for generativelanguage.googleapis.com that keeps the bodies the SDKs send."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                recorder.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                payload = json.dumps(ANSWER).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def genai(self, **config) -> dict:
        """The body google-genai sends for one generate_content call with this config."""
        client = genai_client(self.url, api_key="k")
        client.models.generate_content(
            model="gemini-2.5-flash", contents="hi", config=types.GenerateContentConfig(**config)
        )
        return self.bodies[-1]

    def legacy(self, **model) -> dict:
        """The body google-generativeai sends for one generate_content call of a model built with these arguments."""
        point_legacy_at(self.url, api_key="k")
        legacy.GenerativeModel("gemini-2.5-flash", **model).generate_content("hi")
        return self.bodies[-1]


@pytest.fixture(scope="module")
def recorder():
    recorder = Recorder()
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()


def get_weather(city: str, days: int = 3, unit: Optional[str] = None) -> str:  # noqa: UP045 - as users write it
    """Weather for a city."""
    return "sunny"


class Address(BaseModel):
    street: str
    zip: str | None = None


class Person(BaseModel):
    """A person on file."""

    name: str = Field(description="full name")
    age: int = Field(default=3, ge=0, le=150)
    tags: list[str] = Field(default_factory=list, min_length=1)
    home: Address
    work: Address | None = None
    default: str = "x"  # a property named like a keyword: a name, not a keyword
    format: Literal["short", "long"] = "short"


def save_person(person: Person) -> str:
    """Store a person."""
    return "ok"


HAND_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
        "mode": {"const": "fast"},
        "label": {"type": ["string", "null"], "pattern": "^[a-z]+$"},
    },
    "required": ["n", "gone"],
    "additionalProperties": False,
}


def translated(body: dict, model: str = "gemini-2.5-flash") -> dict:
    """A copy of `body` after every rule, as it would travel upstream."""
    body = copy.deepcopy(body)
    translate(body, model, active_rules())
    return body


def refusal(body: dict, model: str = "gemini-2.5-flash") -> str | None:
    """What the strict fake (as Google) says to this request body."""
    return schema_errors({"model": model, "project": "p", "request": body})


def declaration(body: dict) -> dict:
    return body["tools"][0]["functionDeclarations"][0]


def keys_everywhere(schema: dict) -> set[str]:
    """Every schema keyword used at any depth (property names excluded)."""
    keys = set(schema)
    children = [*schema.get("properties", {}).values(), *schema.get("anyOf", [])]
    children += [schema["items"]] if "items" in schema else []
    for child in children:
        keys |= keys_everywhere(child)
    return keys


def test_genai_python_function_tool(recorder):
    sent = recorder.genai(tools=[get_weather], automatic_function_calling={"disable": True})
    assert "default" in json.dumps(declaration(sent)["parameters_json_schema"])
    assert refusal(sent)  # as sent, Google refuses it
    out = declaration(translated(sent))
    assert "parameters_json_schema" not in out and "response_json_schema" not in out
    assert out["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "description": "default: 3"},
            "unit": {"type": "string", "nullable": True, "description": "default: null"},
        },
        "required": ["city"],
    }
    assert out["response"] == {"type": "string"}
    assert refusal(translated(sent)) is None


def test_genai_pydantic_argument_inlines_defs_and_keeps_keyword_named_properties(recorder):
    sent = recorder.genai(tools=[save_person], automatic_function_calling={"disable": True})
    assert "$defs" in declaration(sent)["parameters_json_schema"]
    parameters = declaration(translated(sent))["parameters"]
    person = parameters["properties"]["person"]
    assert keys_everywhere(parameters) <= ALLOWED
    assert set(person["properties"]) == {"name", "age", "tags", "home", "work", "default", "format"}
    assert person["properties"]["home"]["properties"]["street"] == {"title": "Street", "type": "string"}
    assert person["properties"]["home"]["required"] == ["street"]
    assert person["properties"]["work"]["nullable"] is True and person["properties"]["work"]["type"] == "object"
    assert person["properties"]["age"]["minimum"] == 0 and "default: 3" in person["properties"]["age"]["description"]
    assert person["properties"]["format"]["enum"] == ["short", "long"]
    assert person["properties"]["default"]["type"] == "string"
    assert refusal(sent) and refusal(translated(sent)) is None


def test_genai_parameters_json_schema_tool(recorder):
    tool = types.Tool(
        function_declarations=[types.FunctionDeclaration(name="pick", parameters_json_schema=HAND_SCHEMA)]
    )
    sent = recorder.genai(tools=[tool])
    parameters = declaration(translated(sent))["parameters"]
    assert parameters == {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "description": "exclusiveMaximum: 10"},
            "mode": {"enum": ["fast"]},
            "label": {"type": "string", "nullable": True, "description": "pattern: ^[a-z]+$"},
        },
        "required": ["n"],
        "description": "additionalProperties: false",
    }
    assert refusal(sent) and refusal(translated(sent)) is None


def test_genai_pydantic_response_schema(recorder):
    sent = recorder.genai(response_mime_type="application/json", response_schema=Person)
    assert "property_ordering" in sent["generationConfig"]["responseSchema"]
    config = translated(sent)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert keys_everywhere(schema) <= ALLOWED
    assert schema["properties"]["tags"]["minItems"] == 1  # google-genai spells it min_items
    assert schema["type"] == "OBJECT" and schema["required"] == ["name", "home"]
    assert refusal(sent) and refusal(translated(sent)) is None


def test_genai_response_json_schema_arrives_as_response_schema(recorder):
    sent = recorder.genai(response_mime_type="application/json", response_json_schema=Person.model_json_schema())
    config = translated(sent)["generationConfig"]
    assert "responseJsonSchema" not in config and config["responseMimeType"] == "application/json"
    home = config["responseSchema"]["properties"]["home"]
    assert home["type"] == "object" and home["properties"]["zip"]["nullable"] is True
    assert keys_everywhere(config["responseSchema"]) <= ALLOWED
    assert refusal(sent) and refusal(translated(sent)) is None


def test_legacy_function_tool_is_already_a_proto_schema_and_passes_unchanged(recorder):
    sent = recorder.legacy(tools=[get_weather])
    parameters = declaration(sent)["parameters"]
    assert parameters["type"] == 6  # proto enum numbers: `$alt=json;enum-encoding=int`
    assert declaration(translated(sent))["parameters"] == parameters
    assert refusal(translated(sent)) is None


def test_litellm_parameters_with_default():
    sent = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [
            {
                "function_declarations": [
                    {
                        "name": "search",
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "query": {"type": "string", "minLength": 2},
                                "limit": {"type": "integer", "default": 3, "enum": [1, 3, 5]},
                            },
                            "required": ["query"],
                        },
                    }
                ]
            }
        ],
    }
    assert "Unknown name" in refusal(sent)
    limit = translated(sent)["tools"][0]["function_declarations"][0]["parameters"]["properties"]
    assert limit["query"] == {"type": "string", "description": "minLength: 2"}
    assert limit["limit"] == {"type": "integer", "enum": ["1", "3", "5"], "description": "default: 3"}
    assert refusal(translated(sent)) is None


GOOGLE_GENAI_JS = {  # @google/genai and the Gemini CLI: parametersJsonSchema, camelCase
    "name": "read_file",
    "description": "Read a file",
    "parametersJsonSchema": {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "where"},
            "offset": {"type": "number", "minimum": 0},
            "options": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["path"],
        "additionalProperties": False,
    },
}


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-5"])
def test_google_genai_js_parameters_json_schema(model):
    sent = {"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": [GOOGLE_GENAI_JS]}]}
    assert refusal(sent, model)
    out = declaration(translated(sent, model))
    assert list(out) == ["name", "description", "parameters"]
    assert out["parameters"]["properties"]["options"] == {
        "type": "object",
        "properties": {},
        "description": 'additionalProperties: {"type": "string"}',
    }
    assert out["parameters"]["properties"]["offset"] == {"type": "number", "minimum": 0}
    assert refusal(translated(sent, model), model) is None


def test_claude_is_told_input_schema_missing_for_parameters_json_schema():
    sent = {"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": [GOOGLE_GENAI_JS]}]}
    assert refusal(sent, "claude-sonnet-4-5") == "tools.0.custom.input_schema: Field required"


def test_both_spellings_at_once_become_one_parameters():
    both = {"name": "f", "parameters": {"type": "OBJECT"}, "parametersJsonSchema": {"type": "object", "x-a": 1}}
    sent = {"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": [both]}]}
    assert refusal(sent) == "parameters_json_schema must not be set when parameters is set"
    assert declaration(translated(sent)) == {"name": "f", "parameters": {"type": "OBJECT", "properties": {}}}


def test_history_function_call_args_are_never_touched():
    args = {"$ref": "#/x", "default": 3, "additionalProperties": True, "properties": {"a": True}}
    contents = [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": args}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"default": 1, "const": 2}}}]},
    ]
    sent = {"contents": contents, "tools": [{"functionDeclarations": [GOOGLE_GENAI_JS]}]}
    assert translated(sent)["contents"] == contents


def test_a_body_without_schemas_is_left_as_it_is():
    body = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"temperature": 0.1}, "tools": []}
    before = copy.deepcopy(body)
    tool_schemas(body, Target("gemini-2.5-flash"))
    response_schema(body, Target("gemini-2.5-flash"))
    assert body == before
    search = {"contents": [], "tools": [{"googleSearch": {}}, "junk"], "generation_config": {"response_mime_type": "x"}}
    assert translated(search) == search


RECURSIVE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
    "$defs": {"Node": {"$ref": "#"}},
}


def test_a_schema_that_references_itself_is_cut_to_a_described_object():
    out = clean_schema(RECURSIVE)
    child = out["properties"]["children"]["items"]
    assert child["type"] == "object" and set(child["properties"]) == {"name", "children"}
    cut = child["properties"]["children"]["items"]
    assert cut == {"type": "object", "description": "Node, as defined above (not repeated here)", "properties": {}}


def test_shared_definitions_cannot_grow_a_schema_exponentially():
    # 30 levels of two references each: 2**31 schemas if every reference were inlined
    defs = {
        f"L{i}": {
            "type": "object",
            "properties": {"a": {"$ref": f"#/$defs/L{i + 1}"}, "b": {"$ref": f"#/$defs/L{i + 1}"}},
        }
        for i in range(30)
    }
    defs["L30"] = {"type": "string"}
    out = clean_schema({"$ref": "#/$defs/L0", "$defs": defs})
    assert len(json.dumps(out)) < 100_000 and out["type"] == "object"


@pytest.mark.parametrize(
    ("schema", "cleaned"),
    [
        ({"type": "null"}, {"nullable": True}),
        ({"type": ["integer", "string"]}, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (
            {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
            {"nullable": True, "type": "integer", "description": "default: null"},
        ),
        (
            {"oneOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
            {"nullable": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        ),
        (
            {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {}}, "required": ["b", "c"]},
                ]
            },
            {"properties": {"a": {"type": "string"}, "b": {}}, "required": ["a", "b"]},
        ),
        (  # pydantic's shape: the properties in one branch, what is required of them in another
            {"allOf": [{"type": "object", "properties": {"p": {"type": "string"}}}, {"required": ["p", "q"]}]},
            {"type": "object", "properties": {"p": {"type": "string"}}, "required": ["p"]},
        ),
        (
            {"$ref": "#/$defs/Base", "required": ["p"], "$defs": {"Base": {"properties": {"p": {"type": "string"}}}}},
            {"properties": {"p": {"type": "string"}}, "required": ["p"]},
        ),
        (
            {"type": "object", "properties": {"a": True, "b": False, "c": {"type": "string"}}, "required": ["a", "c"]},
            {"type": "object", "properties": {"c": {"type": "string"}}, "required": ["c"]},
        ),
        ({"type": "array", "items": True, "uniqueItems": True}, {"type": "array", "description": "uniqueItems: true"}),
        ({"enum": [1, "a", None, True, 2.5]}, {"nullable": True, "enum": ["1", "a", "true", "2.5"]}),
        ({"const": 7, "enum": [1]}, {"enum": ["7"]}),
        ({"type": "string", "format": "email"}, {"type": "string", "description": "format: email"}),
        (
            {"type": "string", "format": "date-time", "title": "When"},
            {"type": "string", "format": "date-time", "title": "When"},
        ),
        (
            {"type": "OBJECT", "property_ordering": ["a"], "min_properties": 1},
            {"type": "OBJECT", "properties": {}, "description": "minProperties: 1"},
        ),
        (
            {"type": "ARRAY", "min_items": 1, "max_items": "3", "items": {"type": "STRING"}},
            {"type": "ARRAY", "minItems": 1, "maxItems": "3", "items": {"type": "STRING"}},
        ),
        (
            {"description": "n", "minimum": True, "x-vendor": 1, "$comment": "c"},
            {"description": "n (minimum: true; x-vendor: 1)"},
        ),
        (
            {"properties": {"type": {"type": "string"}, "enum": {"const": "x"}}},
            {"properties": {"type": {"type": "string"}, "enum": {"enum": ["x"]}}},
        ),
        (
            {
                "$ref": "#/definitions/A",
                "description": "site",
                "definitions": {"A": {"type": "string", "description": "def", "maxLength": 4}},
            },
            {"type": "string", "description": "site (def (maxLength: 4))"},
        ),
        ({"$ref": "#/$defs/Missing"}, {"description": "$ref: #/$defs/Missing"}),
        ({"$ref": "https://example.com/s.json"}, {"description": "$ref: https://example.com/s.json"}),
        ({"type": "any", "examples": ["x" * 300]}, {"description": f'type: any; examples: ["{"x" * 197}…'}),
        (True, None),
        (
            {"format": ["x"], "enum": "a", "properties": [1], "required": "a", "items": [{}], "anyOf": {}, "$ref": 5},
            {"description": 'format: ["x"]; enum: a; properties: [1]; required: a; items: [{}]; $ref: 5; anyOf: {}'},
        ),
    ],
)
def test_clean_schema(schema, cleaned):
    assert clean_schema(schema) == cleaned
    if cleaned is not None:
        assert keys_everywhere(cleaned) <= ALLOWED


def test_each_schema_rule_switches_off_by_name():
    settings = Settings.from_env({"GATEWAY_TRANSLATE_OFF": "tool_schemas"})
    sent = {"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": [GOOGLE_GENAI_JS]}]}
    sent["generationConfig"] = {"responseJsonSchema": {"type": "object", "$defs": {}}}
    body = copy.deepcopy(sent)
    translate(body, "gemini-2.5-flash", active_rules(settings.translate_off))
    assert body["tools"] == sent["tools"] and body["generationConfig"] == {
        "responseSchema": {"type": "object", "properties": {}}
    }
    with pytest.raises(SettingsError, match=r"no translation rule named tool_schema .*response_schema.*tool_schemas"):
        Settings.from_env({"GATEWAY_TRANSLATE_OFF": "tool_schema"})
