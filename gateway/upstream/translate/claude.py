"""Claude behind Cloud Code: tool calls and their results must carry ids that pair (v1internal-rules.md §3).

Upstream turns each functionCall into a Claude `tool_use` block and each functionResponse into a `tool_result`
that must name it: without ids the answer is `messages.1.content.1.tool_use.id: Field required` (opencode
#8675). google-genai's automatic function calling, among others, sends neither.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .keys import member

if TYPE_CHECKING:
    from . import Target

_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")  # Claude tool ids are ^[a-zA-Z0-9_-]+$; function names may hold . and :


def claude_ids(body: dict, target: Target) -> None:
    """Fill missing ids: `call_<name>_<n>`, n counting calls in the conversation, so a replayed history gets
    the same ids again; a response without id takes the id of the open call it answers (same name first,
    else the oldest open call)."""
    if not target.claude:
        return
    numbered = 0
    open_calls: list[tuple[str, str]] = []  # (name, id) of calls not answered yet, oldest first
    for content in body.get("contents") or ():
        for part in content.get("parts") or () if isinstance(content, dict) else ():
            if not isinstance(part, dict):
                continue
            call = member(part, "functionCall", "function_call")
            if isinstance(call, dict):
                if not call.get("id"):
                    call["id"] = _new_id(call, numbered)
                numbered += 1
                open_calls.append((str(call.get("name")), call["id"]))
            response = member(part, "functionResponse", "function_response")
            if isinstance(response, dict):
                answered = _answered(open_calls, response)
                if answered is None:  # answers no call we saw: an id of its own, unique all the same
                    answered, numbered = _new_id(response, numbered), numbered + 1
                response["id"] = answered


def _new_id(function: dict, number: int) -> str:
    return f"call_{_NOT_ID.sub('_', str(function.get('name') or 'function'))}_{number}"


def _answered(open_calls: list[tuple[str, str]], response: dict) -> str | None:
    """The id of the open call this response answers (removing it from the open ones)."""
    if response.get("id"):
        match = next((call for call in open_calls if call[1] == response["id"]), None)
        if match:
            open_calls.remove(match)
        return response["id"]
    name = str(response.get("name"))
    match = next((call for call in open_calls if call[0] == name), open_calls[0] if open_calls else None)
    if match is None:
        return None
    open_calls.remove(match)
    return match[1]
