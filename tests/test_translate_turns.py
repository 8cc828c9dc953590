"""The first turn (translate/turns.py; the last one is in test_translate_claude.py)."""

from gateway.upstream.translate import Target
from gateway.upstream.translate.turns import leading_user

MODEL_FIRST = [{"role": "model", "parts": [{"text": "How can I help?"}]}, {"role": "user", "parts": [{"text": "Hi"}]}]


def test_a_leading_model_turn_gets_an_empty_user_turn_before_it():
    body = {"contents": [dict(c) for c in MODEL_FIRST]}
    leading_user(body, Target("gemini-2.5-flash"))
    assert body["contents"] == [{"role": "user", "parts": [{"text": ""}]}, *MODEL_FIRST]


def test_user_first_and_claude_targets_are_left_alone():
    for contents, model in ((MODEL_FIRST[1:], "gemini-2.5-flash"), (MODEL_FIRST, "claude-sonnet-4-6")):
        body = {"contents": list(contents)}
        leading_user(body, Target(model))
        assert body["contents"] == contents
