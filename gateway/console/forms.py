"""The console's create-key form, read into what `gateway keys create` takes (the same limits, the same checks)."""

from __future__ import annotations

import math
from collections.abc import Mapping


def key_options(form: Mapping[str, str]) -> dict:
    """rpm, daily_tokens, models and expires_in_days from the form; an empty field is no limit.
    Raises ValueError naming the field, as the CLI's option types do."""
    return {
        "rpm": _number(form, "rpm", int, minimum=1),
        "daily_tokens": _number(form, "daily_tokens", int, minimum=1),
        "models": tuple(p.strip() for p in form.get("models", "").split(",") if p.strip()),
        "expires_in_days": _number(form, "expires_in", float, minimum=0),
    }


def _number(form: Mapping[str, str], name: str, kind: type, minimum: float) -> int | float | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}")
    return value
