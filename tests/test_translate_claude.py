"""Claude targets: tool-call ids filled and paired, prefill refused (translate/claude.py, translate/turns.py)."""

import pytest

from gateway.errors import GatewayError
from gateway.upstream.translate import Target
from gateway.upstream.translate.claude import claude_ids
from gateway.upstream.translate.turns import claude_prefill

CLAUDE = "claude-sonnet-4-6"


def afc_history() -> dict:
    """What google-genai's automatic function calling sends for its second request: no ids anywhere."""
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "What is the weather in Paris and in Rome?"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_time", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"result": "rainy"}}},
                    {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
                ],
            },
        ]
    }


def ids(body: dict, turn: int, kind: str) -> list[str]:
    return [part[kind]["id"] for part in body["contents"][turn]["parts"]]


def test_calls_get_ids_and_responses_take_the_id_of_the_call_they_answer():
    body = afc_history()
    claude_ids(body, Target(CLAUDE))
    assert ids(body, 1, "functionCall") == ["call_get_weather_0", "call_get_time_1", "call_get_weather_2"]
    # By name, in order: the first get_weather answer goes to the first get_weather call.
    assert ids(body, 2, "functionResponse") == ["call_get_weather_0", "call_get_weather_2", "call_get_time_1"]


def test_ids_are_the_same_when_the_history_is_replayed():
    first, again = afc_history(), afc_history()
    claude_ids(first, Target(CLAUDE))
    claude_ids(again, Target(CLAUDE))
    assert first == again


def test_ids_the_client_sent_are_kept_and_still_pair():
    body = afc_history()
    body["contents"][1]["parts"][0]["functionCall"]["id"] = "toolu_01A"
    body["contents"][2]["parts"][0]["functionResponse"]["id"] = "toolu_01A"
    claude_ids(body, Target(CLAUDE))
    assert ids(body, 1, "functionCall")[0] == "toolu_01A"
    assert ids(body, 2, "functionResponse") == ["toolu_01A", "call_get_weather_2", "call_get_time_1"]


def test_snake_case_parts_and_unsafe_names():
    body = {
        "contents": [
            {"role": "model", "parts": [{"function_call": {"name": "ns.tool:run", "args": {}}}]},
            {"role": "user", "parts": [{"function_response": {"name": "other", "response": {}}}]},
        ]
    }
    claude_ids(body, Target(CLAUDE))
    call_id = body["contents"][0]["parts"][0]["function_call"]["id"]
    assert call_id == "call_ns_tool_run_0"  # Claude ids are [A-Za-z0-9_-] only
    # No call of that name is open: it answers the oldest open call.
    assert body["contents"][1]["parts"][0]["function_response"]["id"] == call_id


def test_a_response_that_answers_nothing_still_gets_an_id_of_its_own():
    body = {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}
    claude_ids(body, Target(CLAUDE))
    assert body["contents"][0]["parts"][0]["functionResponse"]["id"] == "call_f_0"


def test_gemini_targets_are_left_alone():
    body = afc_history()
    claude_ids(body, Target("gemini-2.5-flash"))
    assert body == afc_history()


def test_a_trailing_model_turn_is_refused_for_claude():
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Sure"}]}]}
    with pytest.raises(GatewayError) as caught:
        claude_prefill(body, Target(CLAUDE))
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert "prefill" in caught.value.message and "end with a user turn" in caught.value.message
    claude_prefill(body, Target("gemini-2.5-flash"))  # Gemini continues a model turn
    claude_prefill(afc_history(), Target(CLAUDE))  # a function response is a user turn
