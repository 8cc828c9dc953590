"""What clients send, turned into what the real v1internal accepts (shared/reference/v1internal-rules.md).

Each rule is one small named function `rule(request, target)`: it edits the request body in place (the body is
this request's own freshly parsed copy, so nothing is copied whole) and returns nothing. A rule that does not
apply returns at its first check, so a plain body costs a few dictionary lookups per rule. Google changes these
rules without notice: each can be switched off by name with GATEWAY_TRANSLATE_OFF.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ...accounts.signatures import Signatures
from . import schemas
from .claude import claude_ids
from .families import BUILT_IN, Families, Family
from .images import image_gen
from .safety import civic_integrity
from .sampling import sampling
from .signatures import thought_signatures
from .thinking import thinking
from .tools import online, search_conflict
from .turns import claude_prefill, leading_user


@dataclass(slots=True)
class Target:
    """The model a request goes to; a rule may rewrite `model` (suffixes that are settings, not ids)."""

    model: str
    session: str | None = None  # the conversation (pool.fingerprint), for what was relayed in its turns
    signatures: Signatures | None = None  # the thought signatures relayed so far
    families: Families = BUILT_IN  # what each model family accepts (families.toml, GATEWAY_MODEL_RULES first)
    claude: bool = field(init=False)  # read by several rules: worked out once (suffixes never change it)

    def __post_init__(self) -> None:
        self.claude = self.model.startswith("claude-")

    def family(self) -> Family:
        """The family of the model as it stands now (rules before may have rewritten the id)."""
        return self.families(self.model)


Rule = Callable[[dict, Target], None]

# (name, rule) in the order they run; names are what GATEWAY_TRANSLATE_OFF lists. Rules that read settings
# from the id's suffixes come first: they rewrite target.model to the id upstream knows.
RULES: tuple[tuple[str, Rule], ...] = (
    ("online", online),
    ("image_gen", image_gen),
    ("search_conflict", search_conflict),
    ("claude_prefill", claude_prefill),
    ("claude_ids", claude_ids),
    ("leading_user", leading_user),
    ("thinking", thinking),
    ("sampling", sampling),
    ("civic_integrity", civic_integrity),
    ("tool_schemas", schemas.tool_schemas),
    ("response_schema", schemas.response_schema),
    ("thought_signatures", thought_signatures),
)
RULE_NAMES = frozenset(name for name, _ in RULES)


def active_rules(off: Iterable[str] = ()) -> tuple[Rule, ...]:
    """The rules to run, without those switched off."""
    off = frozenset(off)
    return tuple(rule for name, rule in RULES if name not in off)


def translate(
    body: dict,
    model: str,
    rules: tuple[Rule, ...],
    session: str | None = None,
    signatures: Signatures | None = None,
    families: Families = BUILT_IN,
) -> str:
    """Apply `rules` to `body` in place; returns the model id to send upstream."""
    target = Target(model, session, signatures, families)
    for rule in rules:
        rule(body, target)
    return target.model
