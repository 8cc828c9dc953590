"""Thought signatures put back on history functionCalls that lost them (v1internal-rules.md §2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ... import metrics
from ...accounts.signatures import call_key

if TYPE_CHECKING:
    from . import Target

# Google accepts it in place of a lost signature; the answer then lacks the lost reasoning, so a real
# signature is better whenever the gateway relayed one.
SENTINEL = "skip_thought_signature_validator"
SIGNING_MODEL = re.compile(r"gemini-([3-9]|\d\d)")  # Gemini 3 and later validate signatures


def thought_signatures(body: dict, target: Target) -> None:
    """A model-turn functionCall without a signature gets the one relayed for it; failing that, on Gemini 3,
    the first call of its turn gets the sentinel. Signatures the client kept are left as they are."""
    unsigned = list(_unsigned_calls(body.get("contents")))
    if not unsigned:
        return
    sentinel = SIGNING_MODEL.match(target.model) is not None
    restored = sentinels = 0
    for (part, _, first), signature in zip(unsigned, _recalled(target, unsigned), strict=True):
        if signature:
            _sign(part, signature)
            restored += 1
        elif first and sentinel:
            _sign(part, SENTINEL)
            sentinels += 1
    if restored:
        metrics.labelled(metrics.THOUGHT_SIGNATURES, "restored").inc(restored)
    if sentinels:
        metrics.labelled(metrics.THOUGHT_SIGNATURES, "sentinel").inc(sentinels)


def _recalled(target: Target, unsigned: list[tuple[dict, dict, bool]]) -> list[str | None]:
    """The signature relayed for each call, or None; one look-up for the whole history."""
    if target.signatures is None:
        return [None] * len(unsigned)
    keys = [call_key(target.session, call) for _, call, _ in unsigned]
    found = target.signatures.recall(list(dict.fromkeys(keys)))
    return [found.get(key) for key in keys]


def _unsigned_calls(contents: object) -> Iterator[tuple[dict, dict, bool]]:
    """(part, functionCall, whether it is its turn's first call) of each model-turn call lacking a signature."""
    for content in contents if isinstance(contents, list) else ():
        if not isinstance(content, dict) or content.get("role") != "model":
            continue  # user parts (functionResponse among them) never carry a signature
        first = True
        for part in content.get("parts") or ():
            call = part.get("functionCall", part.get("function_call")) if isinstance(part, dict) else None
            if not isinstance(call, dict):
                continue
            if not (part.get("thoughtSignature") or part.get("thought_signature")):
                yield part, call, first
            first = False


def _sign(part: dict, signature: str) -> None:
    part.pop("thought_signature", None)  # an empty one: a part may not hold both spellings
    part["thoughtSignature"] = signature
