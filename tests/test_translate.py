"""The translation pipeline: named rules, in order, each switchable off (translate/__init__.py)."""

import copy
import json
import re
import timeit

from gateway.config import Settings
from gateway.upstream.translate import RULE_NAMES, RULES, active_rules, translate

PLAIN = {"contents": [{"role": "user", "parts": [{"text": "Hello there, gateway"}]}]}


def test_rule_names_are_unique_short_snake_case():
    names = [name for name, _ in RULES]
    assert len(names) == len(set(names)) == len(RULE_NAMES)
    assert all(re.fullmatch(r"[a-z][a-z_]{2,24}", name) for name in names)
    assert {"online", "image_gen", "search_conflict", "claude_prefill", "claude_ids", "leading_user", "thinking"} <= (
        RULE_NAMES
    )


def test_suffix_rules_run_before_those_that_read_the_model():
    names = [name for name, _ in RULES]
    assert names.index("online") < names.index("image_gen") < names.index("search_conflict")
    assert names.index("image_gen") < names.index("thinking")


def test_a_plain_body_is_left_exactly_as_it_came():
    body = copy.deepcopy(PLAIN)
    for model in ("gemini-2.5-flash", "gemini-3-pro-high", "claude-sonnet-4-6", "gemini-3-pro-image"):
        assert translate(body, model, active_rules()) == model
        assert body == PLAIN


def test_translate_returns_the_model_to_send_upstream():
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    assert translate(body, "gemini-3-pro-image-preview-16x9-4k", active_rules()) == "gemini-3-pro-image-preview"
    assert translate(body, "gemini-2.5-flash-online", active_rules()) == "gemini-2.5-flash"


def test_rules_switched_off_by_name_do_not_run():
    body = {"contents": [{"role": "model", "parts": [{"text": "Hi"}]}]}
    off = Settings.from_env({"GATEWAY_TRANSLATE_OFF": "leading_user, online"}).translate_off
    assert translate(body, "gemini-2.5-flash-online", active_rules(off)) == "gemini-2.5-flash-online"
    assert body == {"contents": [{"role": "model", "parts": [{"text": "Hi"}]}]}
    assert len(active_rules(off)) == len(RULES) - 2


def test_a_plain_body_costs_next_to_nothing():
    # Every rule returns at its first lookup: the bench's S1 body must not pay for features it does not use.
    body, rules, runs = json.loads(json.dumps(PLAIN)), active_rules(), 20000

    def per_call(rule_set) -> float:
        return min(timeit.repeat(lambda: translate(body, "gemini-2.5-flash", rule_set), number=runs, repeat=5)) / runs

    assert per_call(rules) - per_call(()) < 20e-6  # measured ~1 us for all rules; 20 us leaves room for a busy CI
