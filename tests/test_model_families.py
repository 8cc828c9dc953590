"""Model knowledge as data: the family table (families.toml), an operator's GATEWAY_MODEL_RULES file before it,
and what the rules that read it send a strict Google (DESIGN.md third round, v1internal-rules.md §6)."""

import copy
from pathlib import Path

import pytest

from gateway.config import Settings, SettingsError
from gateway.errors import GatewayError
from gateway.upstream.translate import BUILT_IN, active_rules, translate
from gateway.upstream.translate.families import Families, RulesError
from tests.conftest import add_account, gateway_env
from tests.test_startup import start_refused

ARGON, NEON = "gemini-4-argon", "gemini-4-neon"


def sent(model: str, generation: dict, families: Families = BUILT_IN, **body) -> tuple[str, dict]:
    """(the id sent, the generationConfig sent) for a body with this generationConfig."""
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": generation, **body}
    model = translate(request, model, active_rules(), families=families)
    return model, request.get("generationConfig", {})


def thinking_sent(model: str, thinking: dict, families: Families = BUILT_IN) -> dict:
    return sent(model, {"thinkingConfig": thinking}, families)[1].get("thinkingConfig", {})


@pytest.mark.parametrize(
    ("budget", "level"),
    [(0, "LOW"), (1, "LOW"), (8192, "LOW"), (8193, "MEDIUM"), (16384, "MEDIUM"), (16385, "HIGH"), (10**6, "HIGH")],
)
def test_a_budget_becomes_a_level_on_argon_at_a_quarter_and_a_half_of_the_cap(budget, level):
    assert thinking_sent(ARGON, {"includeThoughts": True, "thinkingBudget": budget}) == {
        "includeThoughts": True,
        "thinkingLevel": level,
    }


def test_a_budget_of_minus_one_leaves_the_level_to_the_model():
    assert thinking_sent(ARGON, {"thinkingBudget": -1}) == {}
    assert thinking_sent(NEON, {"thinking_budget": -1}) == {}


@pytest.mark.parametrize(
    ("model", "asked", "level"),
    [
        (ARGON, "XHIGH", "HIGH"),  # Neon's own level: the nearest Argon has
        (ARGON, "minimal", "LOW"),  # Gemini 4 cannot stop thinking
        (NEON, "XHIGH", "XHIGH"),
        (NEON, "MINIMAL", "LOW"),
        (NEON, "THINKING_LEVEL_MEDIUM", "MEDIUM"),
        ("gemini-3.8-flash", "XHIGH", "HIGH"),  # Gemini 3 takes levels too, up to HIGH
        ("gemini-3.8-flash", "MINIMAL", "MINIMAL"),
    ],
)
def test_a_level_the_family_lacks_moves_to_the_nearest_it_has(model, asked, level):
    assert thinking_sent(model, {"thinkingLevel": asked}) == {"thinkingLevel": level}


def test_an_id_ending_in_a_level_sends_that_level_and_never_a_budget():
    assert thinking_sent(f"{ARGON}-low", {"thinkingBudget": 30000}) == {"thinkingLevel": "LOW"}
    assert thinking_sent(f"{NEON}-xhigh", {"thinkingLevel": "LOW"}) == {"thinkingLevel": "XHIGH"}
    _, generation = sent(f"{NEON}-medium", {})
    assert generation == {"thinkingConfig": {"thinkingLevel": "MEDIUM"}}


def test_neon_loses_the_penalties_and_takes_one_candidate():
    generation = {"frequencyPenalty": 0.5, "presence_penalty": 0.2, "temperature": 0.3, "candidateCount": 1}
    assert sent(NEON, generation)[1] == {"temperature": 0.3, "candidateCount": 1}
    assert sent(ARGON, dict(generation))[1] == generation  # Argon takes them


def test_more_candidates_than_the_family_generates_is_the_clients_error():
    with pytest.raises(GatewayError) as refused:
        sent(f"{NEON}-high", {"candidateCount": 2})
    assert refused.value.code == 400 and refused.value.status == "INVALID_ARGUMENT"
    assert "candidateCount 2" in refused.value.message and "at most 1" in refused.value.message


def test_civic_integrity_leaves_the_safety_settings_and_the_rule_can_be_switched_off():
    settings = [
        {"category": "HARM_CATEGORY_CIVIC_INTEGRITY", "threshold": "OFF"},
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
    ]
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "safetySettings": copy.deepcopy(settings)}
    translate(body, "gemini-2.5-flash", active_rules())
    assert body["safetySettings"] == settings[1:]
    off = Settings.from_env({"GATEWAY_TRANSLATE_OFF": "civic_integrity"}).translate_off
    body["safetySettings"] = copy.deepcopy(settings)
    translate(body, "gemini-2.5-flash", active_rules(off))
    assert body["safetySettings"] == settings


RULES_FILE = """
[[family]]
match = "gemini-5-*"
thinking = "level"
levels = ["LOW", "HIGH"]
budget = [1, 40000]
can_stop = false
max_candidates = 2
"""


def test_an_operators_family_comes_before_the_built_in_ones(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES_FILE)
    families = Settings.from_env({"GATEWAY_MODEL_RULES": str(path)}).model_families
    assert thinking_sent("gemini-5-flash", {"thinkingBudget": 20000}) == {"thinkingBudget": 20000}  # built in
    assert thinking_sent("gemini-5-flash", {"thinkingBudget": 20000}, families) == {"thinkingLevel": "HIGH"}
    assert thinking_sent("gemini-5-flash", {"thinkingLevel": "MEDIUM"}, families) == {"thinkingLevel": "HIGH"}
    assert families(ARGON) is BUILT_IN(ARGON)  # what the file does not name stays as built in


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[[family]]\nmatch = 'x-*'\nthinking = 'levels'\n", "family[0].thinking: must be one of level, budget, both"),
        ("[[family]]\nmatch = 'a'\n[[family]]\nlevels = ['LOW']\n", "family[1].match: missing"),
        ("[[family]]\nmatch = 'a'\nlevels = ['LOUD']\n", "family[0].levels: must list levels from MINIMAL"),
        ("[[family]]\nmatch = 'a'\nbudget = [5000, 100]\n", "family[0].budget: the least budget 5000 is above"),
        ("[[family]]\nmatch = 'a'\nmax_candidate = 1\n", "family[0].max_candidate: unknown key"),
        ("[[famly]]\nmatch = 'a'\n", "famly: unknown key"),
        ("[[family]\nmatch = 'a'\n", "not TOML"),
    ],
)
def test_a_bad_file_names_the_file_and_the_key(tmp_path, text, key):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"GATEWAY_MODEL_RULES": str(path)})
    assert str(refused.value).startswith(f"GATEWAY_MODEL_RULES: {path}: {key}")
    assert "\n" not in str(refused.value)


def test_every_built_in_family_loads_and_the_catch_all_comes_last():
    assert BUILT_IN.families[-1].match == ("*",)
    with pytest.raises(RulesError):
        Families.load(Path("/nonexistent/rules.toml"))


def test_a_bad_file_stops_the_start_in_one_line(google, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text("[[family]]\nmatch = 'gemini-5-*'\nbudget = 'big'\n")
    line = start_refused(gateway_env(google, tmp_path / "data", GATEWAY_MODEL_RULES=str(path)))
    assert line == f"Error: GATEWAY_MODEL_RULES: {path}: family[0].budget: must be [least positive budget, cap]\n"


# ---- through a real gateway, to the strict fake ----

THOUGHTFUL = {
    "contents": [{"role": "user", "parts": [{"text": "think"}]}],
    "generationConfig": {"thinkingConfig": {"thinkingBudget": 2048}},
}


def generate(gateway, model: str, body: dict):
    return gateway.post(f"/v1beta/models/{model}:generateContent", json=body)


def serving(gateway, upstream, model: str) -> None:
    """One account that lists (and serves) only `model`."""
    account_id = add_account(gateway, upstream, "alice@example.com", models=(model,))
    gateway.store.update(account_id, models={model: {}})


def test_the_strict_fake_refuses_a_budget_on_a_level_only_family_the_table_does_not_know(gateway, upstream):
    serving(gateway, upstream, "gemini-5-flash")
    answer = generate(gateway, "gemini-5-flash", THOUGHTFUL)
    assert answer.status_code == 400
    assert "thinking_budget is not supported" in answer.json()["error"]["message"]


def test_an_operators_file_teaches_the_gateway_that_family(own_gateway, upstream, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES_FILE)
    gateway = own_gateway("taught", GATEWAY_MODEL_RULES=str(path))
    serving(gateway, upstream, "gemini-5-flash")
    answer = generate(gateway, "gemini-5-flash", THOUGHTFUL)
    assert answer.status_code == 200, answer.text
    sent_config = upstream.calls_to("streamGenerateContent")[-1].body["request"]["generationConfig"]
    assert sent_config["thinkingConfig"] == {"thinkingLevel": "LOW"}


def test_gemini_4_gets_levels_from_a_client_that_sends_budgets(gateway, upstream):
    serving(gateway, upstream, f"{ARGON}-high")
    answer = generate(gateway, f"{ARGON}-high", THOUGHTFUL)
    assert answer.status_code == 200, answer.text
    assert upstream.calls_to("streamGenerateContent")[-1].body["request"]["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "HIGH"
    }


def test_neons_refusals_never_reach_it(gateway, upstream):
    serving(gateway, upstream, f"{NEON}-xhigh")
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"presencePenalty": 0.4, "thinkingConfig": {"thinkingLevel": "MINIMAL"}},
        "safetySettings": [{"category": "HARM_CATEGORY_CIVIC_INTEGRITY", "threshold": "OFF"}],
    }
    assert generate(gateway, f"{NEON}-xhigh", body).status_code == 200
    error = generate(gateway, f"{NEON}-xhigh", {**body, "generationConfig": {"candidateCount": 3}}).json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"] == f"candidateCount 3 is more than {NEON}-xhigh generates: at most 1."
    assert len(upstream.calls_to("streamGenerateContent")) == 1  # the refused one never left the gateway
