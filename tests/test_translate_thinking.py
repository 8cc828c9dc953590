"""thinkingConfig per model family (translate/thinking.py)."""

import pytest

from gateway.upstream.translate import Target
from gateway.upstream.translate.families import BUILT_IN, Family
from gateway.upstream.translate.thinking import level_budget, thinking


def body(thinking_config: dict, **config) -> dict:
    return {"contents": [], "generationConfig": {"thinkingConfig": thinking_config, **config}}


def sent(model: str, thinking_config: dict, **config) -> dict:
    request = body(thinking_config, **config)
    thinking(request, Target(model))
    return request["generationConfig"]


@pytest.mark.parametrize(
    ("model", "level", "budget"),
    [
        ("gemini-2.5-flash", "LOW", 6144),  # cap 24576 / 4
        ("gemini-2.5-flash", "MEDIUM", 12288),
        ("gemini-2.5-flash", "HIGH", 24576),
        ("gemini-2.5-flash", "MINIMAL", 0),
        ("gemini-2.5-pro", "low", 8192),  # cap 32768 / 4; lower case as the Vercel AI SDK sends it
        ("gemini-2.5-pro", "MINIMAL", 128),  # 2.5 Pro cannot stop thinking: its least budget
        ("gemini-2.5-flash-lite", "LOW", 6144),
        ("gemini-3-pro-high", "HIGH", 32768),
        ("gemini-3.1-pro-low", "MEDIUM", 16384),
        ("claude-sonnet-4-6-thinking", "LOW", 8000),
        ("claude-opus-4-6-thinking", "MEDIUM", 16000),
        ("claude-sonnet-4-6", "NONE", 0),
    ],
)
def test_a_level_becomes_a_budget_where_the_model_takes_no_level(model, level, budget):
    config = sent(model, {"thinkingLevel": level, "includeThoughts": True})
    assert config["thinkingConfig"] == {"thinkingBudget": budget, "includeThoughts": True}
    if budget:
        assert config["maxOutputTokens"] > budget


def test_low_never_goes_below_its_floor():
    small = Family(("x",), budget=(1, 8000))
    assert level_budget("LOW", small) == 4096 and level_budget("MEDIUM", small) == 8000  # min(cap, 8192)
    assert level_budget("THINKING_LEVEL_UNSPECIFIED", small) is None


@pytest.mark.parametrize("model", ["gemini-3-pro-preview", "gemini-3-flash", "gemini-3.1-pro-preview"])
def test_gemini_3_ids_without_a_level_suffix_keep_the_level(model):
    assert sent(model, {"thinkingLevel": "LOW"})["thinkingConfig"] == {"thinkingLevel": "LOW"}


def test_which_models_take_levels():
    def takes_levels(model: str) -> bool:
        return BUILT_IN(model).thinking != "budget"

    assert takes_levels("gemini-3-pro-preview") and takes_levels("gemini-10-ultra")
    assert not any(map(takes_levels, ["gemini-3-pro-high", "gemini-2.5-pro", "claude-sonnet-4-6", "gpt-oss"]))


def test_snake_case_spellings():
    request = {"generation_config": {"thinking_config": {"thinking_level": "HIGH"}, "max_output_tokens": 1000}}
    thinking(request, Target("gemini-2.5-flash"))
    assert request == {"generation_config": {"thinking_config": {"thinking_budget": 24576}, "max_output_tokens": 32768}}


def test_an_explicit_budget_wins_over_the_level_and_is_clamped():
    config = sent("gemini-2.5-flash", {"thinkingLevel": "LOW", "thinkingBudget": 100000}, maxOutputTokens=60000)
    assert config == {"thinkingConfig": {"thinkingBudget": 24576}, "maxOutputTokens": 60000}


@pytest.mark.parametrize(
    ("model", "budget", "expected"),
    [
        ("gemini-2.5-pro", 50000, 32768),
        ("gemini-2.5-pro", 0, 128),  # "Budget 0 is invalid. This model only works in thinking mode."
        ("claude-sonnet-4-6-thinking", 100, 1024),  # Anthropic's least budget_tokens
        ("gemini-2.5-flash", 0, 0),
        ("gemini-2.5-flash", -1, -1),  # dynamic: the model decides
        ("gemini-3-pro-preview", 99999, 32768),
    ],
)
def test_budgets_stay_in_the_familys_range(model, budget, expected):
    assert sent(model, {"thinkingBudget": budget})["thinkingConfig"]["thinkingBudget"] == expected


def test_max_output_tokens_always_exceeds_a_positive_budget():
    assert (
        sent("claude-sonnet-4-6-thinking", {"thinkingBudget": 10000}, maxOutputTokens=4096)["maxOutputTokens"] == 18192
    )
    assert sent("claude-sonnet-4-6-thinking", {"thinkingBudget": 10000})["maxOutputTokens"] == 64000  # unset
    assert sent("gemini-2.5-flash", {"thinkingBudget": 1024}, maxOutputTokens=2048)["maxOutputTokens"] == 2048
    assert "maxOutputTokens" not in sent("gemini-2.5-flash", {"thinkingBudget": 0})


def test_bodies_without_thinking_are_untouched():
    for request in ({"contents": []}, {"generationConfig": {"temperature": 0.1}}, {"generationConfig": None}):
        before = repr(request)
        thinking(request, Target("claude-sonnet-4-6"))
        assert repr(request) == before
