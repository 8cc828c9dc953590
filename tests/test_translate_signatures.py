"""The thought_signatures translation rule: restored, sentinel, or left alone."""

import copy

import pytest
from prometheus_client import REGISTRY

from gateway.accounts.signatures import SqliteSignatures, call_key
from gateway.accounts.store import Store
from gateway.upstream.translate import RULE_NAMES, active_rules, translate
from gateway.upstream.translate.signatures import SENTINEL, thought_signatures

SESSION = "conversation-1"
PARIS = {"name": "get_weather", "args": {"city": "Paris", "days": 3}}
ROME = {"name": "get_weather", "args": {"city": "Rome", "days": 2}}


@pytest.fixture
def memory(tmp_path) -> SqliteSignatures:
    memory = SqliteSignatures(Store(tmp_path / "gateway.db"))
    memory.remember({call_key(SESSION, PARIS): "sig-paris"})
    return memory


def history(*model_parts: dict) -> dict:
    """A conversation: the question, one model turn with these parts, then the function's result."""
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "What is the weather?"}]},
            {"role": "model", "parts": list(model_parts)},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"ok": True}}}]},
        ]
    }


def run(body: dict, memory: SqliteSignatures | None, model: str = "gemini-3-flash", session=SESSION) -> list[dict]:
    translate(body, model, (thought_signatures,), session, memory)
    return body["contents"][1]["parts"]


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("gateway_thought_signatures_total", {"outcome": outcome}) or 0.0


def test_a_dropped_signature_is_restored_whatever_the_number_spelling(memory):
    restored = counted("restored")
    replayed = {"name": "get_weather", "args": {"days": 3.0, "city": "Paris"}}  # google-generativeai's replay
    assert run(history({"functionCall": replayed}), memory) == [
        {"functionCall": replayed, "thoughtSignature": "sig-paris"}
    ]
    assert counted("restored") == restored + 1


def test_snake_case_parts_are_recognised(memory):
    parts = run(history({"function_call": PARIS, "thought_signature": ""}), memory)
    assert parts == [{"function_call": PARIS, "thoughtSignature": "sig-paris"}]  # one spelling on the part


@pytest.mark.parametrize("spelling", ["thoughtSignature", "thought_signature"])
def test_a_signature_the_client_kept_is_untouched(memory, spelling):
    body = history({"functionCall": PARIS, spelling: "client-kept"}, {"functionCall": ROME})
    before = copy.deepcopy(body)
    run(body, memory)
    assert body == before  # Rome is unknown, and the turn's first call is signed already


def test_unknown_on_gemini3_the_first_call_of_the_turn_gets_the_sentinel(memory):
    sentinels = counted("sentinel")
    parts = run(history({"text": "Let me check."}, {"functionCall": ROME}, {"functionCall": PARIS}), memory)
    assert parts == [
        {"text": "Let me check."},
        {"functionCall": ROME, "thoughtSignature": SENTINEL},
        {"functionCall": PARIS, "thoughtSignature": "sig-paris"},
    ]
    assert counted("sentinel") == sentinels + 1


@pytest.mark.parametrize("model", ["gemini-3-pro-high", "gemini-3.1-pro-low", "gemini-4-flash"])
def test_every_model_from_gemini3_on_gets_the_sentinel(memory, model):
    assert run(history({"functionCall": ROME}), memory, model)[0]["thoughtSignature"] == SENTINEL


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4-6"])
def test_older_models_get_what_is_known_but_never_a_sentinel(memory, model):
    assert run(history({"functionCall": ROME}, {"functionCall": PARIS}), memory, model) == [
        {"functionCall": ROME},
        {"functionCall": PARIS, "thoughtSignature": "sig-paris"},
    ]


def test_each_model_turn_is_checked_on_its_own(memory):
    body = history({"functionCall": PARIS})
    body["contents"] += [
        {"role": "model", "parts": [{"functionCall": ROME}]},
        {"role": "user", "parts": [{"text": "thanks"}]},
    ]
    translate(body, "gemini-3-flash", (thought_signatures,), SESSION, memory)
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == "sig-paris"
    assert body["contents"][3]["parts"][0]["thoughtSignature"] == SENTINEL


def test_user_parts_never_get_a_signature(memory):
    body = history({"functionCall": PARIS})
    body["contents"][0]["parts"].append({"functionCall": PARIS})  # odd, but a user turn: left alone
    before = [copy.deepcopy(body["contents"][0]), copy.deepcopy(body["contents"][2])]
    run(body, memory)
    assert [body["contents"][0], body["contents"][2]] == before


def test_the_same_call_in_another_conversation_gets_only_the_sentinel(memory):
    assert run(history({"functionCall": PARIS}), memory, session="conversation-2")[0]["thoughtSignature"] == SENTINEL


def test_conversations_without_a_fingerprint_get_back_what_was_relayed_in_one(memory):
    memory.remember({call_key(None, ROME): "sig-rome"})
    assert run(history({"functionCall": ROME}), memory, session=None)[0]["thoughtSignature"] == "sig-rome"
    assert run(history({"functionCall": PARIS}), memory, session=None)[0]["thoughtSignature"] == SENTINEL


def test_no_memory_reachable_gets_the_sentinel():
    assert run(history({"functionCall": PARIS}), None)[0]["thoughtSignature"] == SENTINEL


def test_a_body_without_calls_is_left_as_it_is(memory):
    for body in ({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, {"contents": "odd"}, {}):
        before = copy.deepcopy(body)
        translate(body, "gemini-3-flash", (thought_signatures,), SESSION, memory)
        assert body == before


def test_the_rule_can_be_switched_off_by_name():
    assert "thought_signatures" in RULE_NAMES
    assert thought_signatures in active_rules()
    assert thought_signatures not in active_rules({"thought_signatures"})
