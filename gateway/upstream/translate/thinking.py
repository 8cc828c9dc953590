"""thinkingConfig as each model family takes it (families.toml; v1internal-rules.md §4 and §6).

A family takes levels only (Gemini 4: Argon refuses a budget with a 400), budgets only (Gemini 2.x and Claude:
"Thinking level is not supported for this model.", and Gemini 3 ids that fix the level, Antigravity-Manager
#2208), or both (Gemini 3). What a client sends in the other unit is converted, as Antigravity-Manager does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .families import LEVELS, Family, is_count
from .keys import member, remove, spelling

if TYPE_CHECKING:
    from . import Target

HEADROOM = 8192  # answer tokens left above the budget (Antigravity-Manager, antigravity-claude-proxy)
# The budget a level stands for: (share of the cap, least budget) — Antigravity-Manager's LOW cap/4 >= 4096,
# MEDIUM cap/2 >= 8192, HIGH the cap.
_LEVEL_SHARES = {"LOW": (4, 4096), "MEDIUM": (2, 8192), "HIGH": (1, 0), "XHIGH": (1, 0)}
_ID_LEVELS = {f"-{level.lower()}": level for level in LEVELS if level != "MINIMAL"}  # ids ending in a level
_ID_SUFFIXES = tuple(_ID_LEVELS)


def thinking(body: dict, target: Target) -> None:
    """thinkingLevel or thinkingBudget, whichever the family takes, within its range; maxOutputTokens above a
    positive budget."""
    config = member(body, "generationConfig", "generation_config")
    if not isinstance(config, dict) and not target.model.endswith(_ID_SUFFIXES):
        return  # most bodies: nothing to read, no family to look up
    family = target.family()
    if family.thinking == "level":
        _levels_only(body, target.model, family)
        return
    if not isinstance(config, dict):
        return
    settings = member(config, "thinkingConfig", "thinking_config")
    if not isinstance(settings, dict):
        return
    level_key = spelling(settings, "thinkingLevel", "thinking_level")
    budget_key = spelling(settings, "thinkingBudget", "thinking_budget") or _twin(level_key)
    if level_key is not None and family.thinking == "budget":
        budget = level_budget(settings.pop(level_key), family)
        if settings.get(budget_key) is None and budget is not None:
            settings[budget_key] = budget
    elif level_key is not None and (level := _level_name(settings[level_key])) not in (None, *family.levels):
        settings[level_key] = family.nearest(level)
    _bound_budget(config, settings, budget_key, family)


def _levels_only(body: dict, model: str, family: Family) -> None:
    """Send a level and never a budget: an id's own level, else the client's, else its budget as a level."""
    fixed = next((level for suffix, level in _ID_LEVELS.items() if model.endswith(suffix)), None)
    config = member(body, "generationConfig", "generation_config")
    if fixed is not None and not isinstance(config, dict):
        config = body["generationConfig"] = {}
    if not isinstance(config, dict):
        return
    settings = member(config, "thinkingConfig", "thinking_config")
    if fixed is not None and not isinstance(settings, dict):
        settings = config["thinkingConfig"] = {}
    if not isinstance(settings, dict):
        return
    level_key = spelling(settings, "thinkingLevel", "thinking_level") or "thinkingLevel"
    budget = member(settings, "thinkingBudget", "thinking_budget")
    remove(settings, "thinkingBudget", "thinking_budget")
    level = fixed or _level_name(settings.get(level_key)) or budget_level(budget, family)
    if level is None:
        settings.pop(level_key, None)
    else:
        settings[level_key] = family.nearest(level)


def _bound_budget(config: dict, settings: dict, budget_key: str, family: Family) -> None:
    budget = settings.get(budget_key)
    if not is_count(budget) or budget < 0:  # -1: the model decides
        return
    if budget or not family.can_stop:
        budget = settings[budget_key] = min(max(budget, family.floor), family.cap)
    if budget:
        output_key = spelling(config, "maxOutputTokens", "max_output_tokens") or "maxOutputTokens"
        output = config.get(output_key)
        if not isinstance(output, int):
            config[output_key] = max(family.output, budget + HEADROOM)
        elif output <= budget:
            config[output_key] = budget + HEADROOM


def _twin(level_key: str | None) -> str:
    """A new budget field spelt as the level was."""
    return "thinking_budget" if level_key == "thinking_level" else "thinkingBudget"


def _level_name(level: object) -> str | None:
    """One of LEVELS for what a client wrote (`high`, `THINKING_LEVEL_HIGH`, `NONE`), else None."""
    if level is None:
        return None
    name = str(level).upper().removeprefix("THINKING_LEVEL_")
    name = "MINIMAL" if name == "NONE" else name
    return name if name in LEVELS else None


def level_budget(level: object, family: Family) -> int | None:
    """The budget a level stands for; None for an unspecified or unknown level (the model's default)."""
    name = _level_name(level)
    if name == "MINIMAL":
        return 0 if family.can_stop else family.floor
    if name not in _LEVEL_SHARES:
        return None
    divisor, least = _LEVEL_SHARES[name]
    return min(family.cap, max(family.cap // divisor, least))


def budget_level(budget: object, family: Family) -> str | None:
    """The level a budget stands for (DESIGN.md, third round): 0 → MINIMAL, up to a quarter of the cap → LOW, up to
    half → MEDIUM, above → HIGH; -1 (the model decides) or no budget → None."""
    if not is_count(budget) or budget < 0:
        return None
    if budget == 0:
        return "MINIMAL"
    if budget <= family.cap // 4:
        return "LOW"
    return "MEDIUM" if budget <= family.cap // 2 else "HIGH"


def requested_level(body: dict, family: Family) -> str | None:
    """The thinking level a body asks for, its budget read as a level of `family`; None when it names none."""
    config = member(body, "generationConfig", "generation_config")
    settings = member(config, "thinkingConfig", "thinking_config") if isinstance(config, dict) else None
    if not isinstance(settings, dict):
        return None
    level = _level_name(member(settings, "thinkingLevel", "thinking_level"))
    return level or budget_level(member(settings, "thinkingBudget", "thinking_budget"), family)
