"""The order of turns: what Cloud Code requires of the first and the last content (v1internal-rules.md §3, §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import GatewayError

if TYPE_CHECKING:
    from . import Target


def claude_prefill(body: dict, target: Target) -> None:
    """Claude behind Cloud Code refuses a conversation ending with a model turn ("assistant message prefill")."""
    if not target.claude:
        return
    contents = body.get("contents")
    if contents and isinstance(contents[-1], dict) and contents[-1].get("role") == "model":
        raise GatewayError(
            400,
            f"{target.model} does not support assistant message prefill: the conversation must end with a "
            "user turn, not a model turn.",
        )


def leading_user(body: dict, target: Target) -> None:
    """Gemini behind Cloud Code wants the first content to be a user turn (CLIProxyAPI ensures one)."""
    contents = body.get("contents")
    if not contents or not isinstance(contents[0], dict) or contents[0].get("role") != "model" or target.claude:
        return
    contents.insert(0, {"role": "user", "parts": [{"text": ""}]})
