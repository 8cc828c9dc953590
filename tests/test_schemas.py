"""Body checks in-process: what passes, and that every error names the offending field."""

import pytest

from gateway.errors import GatewayError
from gateway.schemas import parse_json, validate_body

TEXT = {"role": "user", "parts": [{"text": "hi"}]}


def error_of(kind: str, body: dict) -> str:
    with pytest.raises(GatewayError) as caught:
        validate_body(kind, body)
    assert caught.value.code == 400
    return caught.value.message


def test_a_full_body_in_either_casing_passes_untouched():
    body = {
        "contents": [
            TEXT,
            {"role": "model", "parts": [{"thought": True, "thought_signature": "c2ln", "text": "x"}]},
            {"parts": [{"function_response": {"name": "f", "response": {}}}]},
        ],
        "system_instruction": {"role": "user", "parts": [{"text": "be brief"}]},
        "generationConfig": {"temperature": 0, "top_p": 0.9, "maxOutputTokens": 10, "stopSequences": ["\n"]},
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": 4}],
        "tools": [{"functionDeclarations": []}],
        "toolConfig": {},
        "labels": {"unknown": "members pass"},
    }
    assert validate_body("generate", body) is body
    assert body["system_instruction"]["parts"][0]["text"] == "be brief"  # nothing renamed in place


def test_null_members_count_as_absent():
    # proto3 JSON reads null as the default value
    assert validate_body("generate", {"contents": [TEXT], "generationConfig": None, "tools": None})


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ({}, "contents", "Missing data"),
        ({"contents": []}, "contents", "minimum length 1"),
        ({"contents": {}}, "contents", "Not a valid list"),
        ({"contents": [TEXT, "hi"]}, "contents[1]", "Not a valid object"),
        ({"contents": [{"role": "user"}]}, "contents[0].parts", "Missing data"),
        ({"contents": [{"role": "system", "parts": []}]}, "contents[0].role", "user, model"),
        ({"contents": [{"parts": [{"text": "a"}, {"text": 1}]}]}, "contents[0].parts[1].text", "string"),
        ({"contents": [{"parts": [{"inline_data": "AA=="}]}]}, "contents[0].parts[0].inlineData", "object"),
        ({"contents": [TEXT], "generationConfig": {"maxOutputTokens": 1.5}}, "maxOutputTokens", "integer"),
        ({"contents": [TEXT], "generationConfig": {"candidateCount": True}}, "candidateCount", "integer"),
        ({"contents": [TEXT], "generationConfig": {"temperature": "hot"}}, "temperature", "number"),
        ({"contents": [TEXT], "generation_config": {"stop_sequences": [1]}}, "stopSequences[0]", "string"),
        ({"contents": [TEXT], "safetySettings": [{"category": 7}]}, "safetySettings[0].threshold", "Missing"),
        ({"contents": [TEXT], "safetySettings": [{"category": False, "threshold": 1}]}, "category", "enum"),
        ({"contents": [TEXT], "systemInstruction": {"parts": "x"}}, "systemInstruction.parts", "list"),
        ({"contents": [TEXT], "tools": [1]}, "tools[0]", "object"),
        ({"contents": [TEXT], "cachedContent": 5}, "cachedContent", "string"),
    ],
)
def test_errors_name_the_field_and_the_problem(body, where, message):
    error = error_of("generate", body)
    assert where in error and message in error, error


def test_every_error_is_reported_at_once():
    error = error_of("generate", {"contents": [{"role": "x", "parts": [{"text": 1}]}], "tools": "no"})
    assert "contents[0].role" in error and "contents[0].parts[0].text" in error and "tools" in error


def test_count_tokens_takes_either_form():
    assert validate_body("countTokens", {"contents": [TEXT]})
    assert validate_body("countTokens", {"generateContentRequest": {"model": "m", "contents": [TEXT]}})
    assert "generateContentRequest.contents[0].parts" in error_of(
        "countTokens", {"generateContentRequest": {"contents": [{"role": "user"}]}}
    )
    assert "contents" in error_of("countTokens", {"model": "m"})
    assert "contents" in error_of("countTokens", {"contents": None, "generateContentRequest": None})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b" ", "empty"),
        (b"{", "Invalid JSON"),
        (b"[]", "JSON object"),
        (b"\xff", "UTF-8"),
        (b'{"a":' * 101 + b"1" + b"}" * 101, "deeper than 100"),
        (b'{"a":' + b"[" * 100 + b"]" * 100 + b"}", "deeper than 100"),
    ],
)
def test_unparseable_bodies(raw, message):
    with pytest.raises(GatewayError, match=message):
        parse_json(raw)


def test_nesting_up_to_the_limit_and_many_shallow_brackets_pass():
    assert parse_json(b'{"a":' * 99 + b"1" + b"}" * 99)
    wide = b'{"contents": [' + b",".join([b'{"parts": [{"text": "x"}]}'] * 500) + b"]}"
    assert len(parse_json(wide)["contents"]) == 500
