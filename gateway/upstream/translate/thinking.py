"""thinkingConfig as each model family takes it (v1internal-rules.md §4).

Only Gemini 3 and later take `thinkingLevel`, and not on ids that fix the level themselves (`-high`, `-low`:
`thinkingLevel` there is a 400, Antigravity-Manager #2208); Gemini 2.x answers "Thinking level is not supported
for this model." Everywhere else the level becomes a `thinkingBudget`, as Antigravity-Manager converts it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from .keys import member, spelling

if TYPE_CHECKING:
    from . import Target


class Family(NamedTuple):
    marker: str  # first family whose marker is in the id wins
    cap: int  # the largest budget the family takes
    floor: int  # the smallest positive budget it takes
    can_stop: bool  # whether a budget of 0 turns thinking off (else the floor is the least thinking)
    output: int  # the family's output token limit


# Budgets: Google's published thinkingBudget ranges (ai.google.dev/gemini-api/docs/thinking) — 2.5 Pro
# 128..32768 and never off, 2.5 Flash 0..24576, Flash-Lite 512..24576 or 0 — applied by family to Gemini 3 as
# Antigravity-Manager does; Claude: 32000 (Antigravity-Manager), 1024 Anthropic's least `budget_tokens`,
# 64000 its output limit (CLIProxyAPI's cap).
FAMILIES = (
    Family("claude-", 32000, 1024, True, 64000),
    Family("-flash-lite", 24576, 512, True, 65536),
    Family("-pro", 32768, 128, False, 65536),
    Family("-flash", 24576, 1, True, 65536),
)
OTHER = Family("", 24576, 1, True, 65536)
HEADROOM = 8192  # answer tokens left above the budget (Antigravity-Manager, antigravity-claude-proxy)
FIXED_LEVEL = ("-high", "-low")
_GENERATION = re.compile(r"gemini-(\d+)")


def thinking(body: dict, target: Target) -> None:
    """thinkingLevel → thinkingBudget where the model takes no level; budgets within the family's range;
    maxOutputTokens above a positive budget."""
    config = member(body, "generationConfig", "generation_config")
    if not isinstance(config, dict):
        return
    settings = member(config, "thinkingConfig", "thinking_config")
    if not isinstance(settings, dict):
        return
    family = next((f for f in FAMILIES if f.marker in target.model), OTHER)
    level_key = spelling(settings, "thinkingLevel", "thinking_level")
    budget_key = spelling(settings, "thinkingBudget", "thinking_budget") or _twin(level_key)
    if level_key is not None and not takes_levels(target.model):
        budget = level_budget(settings.pop(level_key), family)
        if settings.get(budget_key) is None and budget is not None:
            settings[budget_key] = budget
    budget = settings.get(budget_key)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:  # -1: the model decides
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


def takes_levels(model: str) -> bool:
    """Gemini 3 and later, unless the id fixes the level."""
    generation = _GENERATION.match(model)
    return bool(generation) and int(generation.group(1)) >= 3 and not model.endswith(FIXED_LEVEL)


def level_budget(level: object, family: Family) -> int | None:
    """The budget a level stands for (Antigravity-Manager: LOW cap/4 ≥ 4096, MEDIUM cap/2 ≥ 8192, HIGH cap);
    None for an unspecified or unknown level, which leaves the model its default."""
    name = str(level).upper().removeprefix("THINKING_LEVEL_")
    if name in ("NONE", "MINIMAL"):
        return 0 if family.can_stop else family.floor
    shares = {"LOW": (4, 4096), "MEDIUM": (2, 8192), "HIGH": (1, 0)}
    if name not in shares:
        return None
    divisor, least = shares[name]
    return min(family.cap, max(family.cap // divisor, least))
