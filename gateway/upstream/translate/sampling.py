"""generationConfig fields a family refuses (families.toml `drop`, `max_candidates`; v1internal-rules.md §6)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...errors import GatewayError
from .keys import member, remove

if TYPE_CHECKING:
    from . import Target

_WORD = re.compile(r"(?<!^)(?=[A-Z])")


def sampling(body: dict, target: Target) -> None:
    """Drop the fields the family refuses; a candidateCount above its maximum is the client's error, told here
    rather than as Google's 400 after an account was spent on it."""
    config = member(body, "generationConfig", "generation_config")
    if not isinstance(config, dict):
        return
    family = target.family()
    for name in family.drop:
        remove(config, name, _WORD.sub("_", name).lower())
    count = member(config, "candidateCount", "candidate_count")
    if family.max_candidates is not None and isinstance(count, int) and count > family.max_candidates:
        message = f"candidateCount {count} is more than {target.model} generates: at most {family.max_candidates}."
        raise GatewayError(400, message, "INVALID_ARGUMENT")
