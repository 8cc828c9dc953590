"""The v1internal envelope: wrap a Gemini request for Cloud Code, unwrap its answers."""

from __future__ import annotations

import uuid

from ..clock import SYSTEM_CLOCK, Clock
from ..config import DEFAULT_USER_AGENT
from .translate.suffixes import IMAGE_MARKER

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1


def session_id(key: str) -> str:
    """A stable sessionId for a session key (accounts/sessions.py: account | conversation | generation):
    Antigravity's 64-bit FNV (multiply, then xor), printed signed."""
    value = _FNV_OFFSET
    for byte in key.encode():
        value = ((value * _FNV_PRIME) & _MASK) ^ byte
    return str(value - (1 << 64) if value >= 1 << 63 else value)


def wrap_generate(
    body: dict,
    model: str,
    project: str,
    session_key: str,
    user_agent: str = DEFAULT_USER_AGENT,
    clock: Clock = SYSTEM_CLOCK,
) -> dict:
    """Envelope for generateContent / streamGenerateContent; the (translated) client body travels inside."""
    request = dict(body)
    request["sessionId"] = session_id(session_key)
    return {
        "project": project,
        "model": model,
        "userAgent": user_agent,  # the same as the User-Agent header (GATEWAY_USER_AGENT)
        "requestType": "image_gen" if IMAGE_MARKER in model else "agent",
        "requestId": f"agent/{int(clock() * 1000)}/{uuid.uuid4().hex[:8]}",
        "request": request,
    }


def wrap_count_tokens(body: dict, model: str) -> dict:
    """Envelope for countTokens, exactly as gemini-cli sends it: `request` holding `model` and `contents`.

    Upstream refuses top-level `project`/`model`; google-generativeai nests the contents in
    `generateContentRequest`, google-genai sends them bare.
    """
    inner = body.get("generateContentRequest") or body
    return {"request": {"model": f"models/{model}", "contents": inner.get("contents", [])}}


def unwrap(payload: object) -> object:
    """The GenerateContentResponse inside a v1internal answer (the answer itself when not wrapped)."""
    if isinstance(payload, dict) and isinstance(payload.get("response"), dict):
        return payload["response"]
    return payload
