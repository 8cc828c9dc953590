"""Image models: what Cloud Code's image_gen requests accept (v1internal-rules.md §5, Antigravity-Manager)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .keys import member, remove, spelling
from .suffixes import IMAGE_MARKER, image_suffixes

if TYPE_CHECKING:
    from . import Target

# Refused or meaningless on image_gen requests; peers (Antigravity-Manager, CLIProxyAPI) remove them.
DROPPED = (("tools", "tools"), ("toolConfig", "tool_config"), ("systemInstruction", "system_instruction"))
DROPPED_CONFIG = (("responseMimeType", "response_mime_type"), ("responseModalities", "response_modalities"))
IMAGE_CONFIG_FIELDS = {"aspectRatio": "aspect_ratio", "imageSize": "image_size"}


def image_gen(body: dict, target: Target) -> None:
    """Strip what image_gen refuses; the id's suffixes become imageConfig, under the body's own values."""
    if IMAGE_MARKER not in target.model:
        return
    target.model, from_suffixes = image_suffixes(target.model)
    for camel, snake in DROPPED:
        remove(body, camel, snake)
    key = spelling(body, "generationConfig", "generation_config") or "generationConfig"
    config = body.get(key)
    if not isinstance(config, dict):
        if not from_suffixes:
            return
        config = body[key] = {}
    for camel, snake in DROPPED_CONFIG:
        remove(config, camel, snake)
    if from_suffixes:
        image_key = spelling(config, "imageConfig", "image_config") or "imageConfig"
        own = member(config, "imageConfig", "image_config")
        own = own if isinstance(own, dict) else {}
        extra = {k: v for k, v in from_suffixes.items() if spelling(own, k, IMAGE_CONFIG_FIELDS[k]) is None}
        config[image_key] = {**extra, **own}
