"""Proto3 JSON takes every field in camelCase or snake_case, and clients use both: rules must read either."""

from __future__ import annotations


def spelling(message: dict, camel: str, snake: str) -> str | None:
    """The key under which `message` holds this field, or None when it has neither spelling."""
    if camel in message:
        return camel
    return snake if snake in message else None


def member(message: dict, camel: str, snake: str) -> object:
    """The field's value under either spelling (None when absent)."""
    value = message.get(camel)
    return message.get(snake) if value is None else value


def remove(message: dict, camel: str, snake: str) -> None:
    """Drop the field under both spellings."""
    message.pop(camel, None)
    message.pop(snake, None)
