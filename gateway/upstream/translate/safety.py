"""safetySettings v1internal refuses (v1internal-rules.md §6: HARM_CATEGORY_CIVIC_INTEGRITY is a 400 even at
OFF; CLIProxyAPI strips it, OmniRoute PR #6581)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .keys import spelling

if TYPE_CHECKING:
    from . import Target

REFUSED_CATEGORIES = frozenset({"HARM_CATEGORY_CIVIC_INTEGRITY"})


def civic_integrity(body: dict, target: Target) -> None:
    """Remove the safetySettings entries of categories v1internal refuses."""
    key = spelling(body, "safetySettings", "safety_settings")
    if key is None or not isinstance(body[key], list):
        return
    body[key] = [
        entry
        for entry in body[key]
        if not (isinstance(entry, dict) and str(entry.get("category", "")).upper() in REFUSED_CATEGORIES)
    ]
