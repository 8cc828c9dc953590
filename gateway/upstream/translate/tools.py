"""Google Search grounding: the `-online` suffix, and the one tool mix Cloud Code refuses (v1internal-rules.md §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import GatewayError
from .suffixes import ONLINE

if TYPE_CHECKING:
    from . import Target

SEARCH_TOOLS = ("googleSearch", "google_search", "googleSearchRetrieval", "google_search_retrieval")
FUNCTIONS = ("functionDeclarations", "function_declarations")


def online(body: dict, target: Target) -> None:
    """`<model>-online` (Antigravity-Manager's convention): the model itself, with the googleSearch tool."""
    if not target.model.endswith(ONLINE):
        return
    target.model = target.model.removesuffix(ONLINE)
    tools = body.get("tools")
    if not isinstance(tools, list):
        tools = body["tools"] = []
    if not any(isinstance(tool, dict) and _has(tool, SEARCH_TOOLS) for tool in tools):
        tools.append({"googleSearch": {}})


def search_conflict(body: dict, target: Target) -> None:
    """googleSearch with functionDeclarations is a 400 upstream (Antigravity-Manager v4.5.6): say so first."""
    tools = body.get("tools")
    if not tools or not isinstance(tools, list):
        return
    tools = [tool for tool in tools if isinstance(tool, dict)]
    functions = any(tool.get(key) for tool in tools for key in FUNCTIONS)  # an empty list declares nothing
    if functions and any(_has(tool, SEARCH_TOOLS) for tool in tools):
        raise GatewayError(
            400,
            "googleSearch cannot be combined with functionDeclarations in one request: Cloud Code refuses the "
            "mix. Send the search tool (or a model id ending in -online) and the functions in separate requests.",
        )


def _has(tool: dict, keys: tuple[str, ...]) -> bool:
    return any(tool.get(key) is not None for key in keys)  # `{"googleSearch": {}}` is the usual form
