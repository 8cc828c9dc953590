"""Request bodies, checked at the door: both key casings, enums as names or numbers.

Validation only: the body travels upstream as the client wrote it (v1internal parses proto3 JSON, which
accepts both casings and numeric enums), so nothing the gateway does not understand is lost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from marshmallow import INCLUDE, Schema, ValidationError, fields, pre_load

from .codec import DECODE_ERRORS, decode
from .errors import GatewayError

MAX_DEPTH = 100  # Google's own proto parser gives up deeper than this
BRACKET_COUNT_MAX = 1 << 16  # bodies up to this size are scanned for brackets before their nesting is walked


Check = Callable[[object], list[str] | dict | None]  # a value's errors (None: valid), as marshmallow shapes them


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def json_type(name: str, *types: type) -> Check:
    """A value of one of these JSON types (a boolean is never a number)."""
    accepts_bool = bool in types

    def check(value: object) -> list[str] | None:
        if isinstance(value, types) and (accepts_bool or not isinstance(value, bool)):
            return None
        return [f"Not a valid {name}."]

    return check


STRING = json_type("string", str)
BOOLEAN = json_type("boolean", bool)
NUMBER = json_type("number", int, float)
INTEGER = json_type("integer", int)
OBJECT = json_type("object", dict)
ENUM = json_type("enum value: expected a name or a number", str, int)  # names (google-genai), numbers (-generativeai)


def one_of(*choices: str) -> Check:
    def check(value: object) -> list[str] | None:
        return None if value in choices else [f"Must be one of: {', '.join(choices)}."]

    return check


def list_of(item: Check, min_length: int = 0) -> Check:
    """A list whose items pass `item`; errors keyed by index, as marshmallow's List reports them."""

    def check(value: object) -> list[str] | dict | None:
        if not isinstance(value, list):
            return ["Not a valid list."]
        if len(value) < min_length:
            return [f"Shorter than minimum length {min_length}."]
        errors = {}
        for index, element in enumerate(value):
            if (error := item(element)) is not None:
                errors[index] = error
        return errors or None

    return check


def members(table: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An object whose known members (camelCase or snake_case) pass their checks; unknown members pass.

    One loop per object: a nested marshmallow schema costs ~25 µs per object, so a 40-turn chat took
    0.4 ms to check.
    """
    checks = tuple((name, _snake(name), check) for name, check in table.items())

    def check(value: object) -> list[str] | dict | None:
        if not isinstance(value, dict):
            return ["Not a valid object."]
        errors = {}
        for name, snake, member_check in checks:
            member = value.get(name, value.get(snake))
            if member is None:
                if name in required:
                    errors[name] = ["Missing data for required field."]
            elif (error := member_check(member)) is not None:
                errors[name] = error
        return errors or None

    return check


PART = members(
    {
        "text": STRING,
        "thought": BOOLEAN,
        "thoughtSignature": STRING,
        "inlineData": OBJECT,
        "fileData": OBJECT,
        "functionCall": OBJECT,
        "functionResponse": OBJECT,
    }
)
CONTENT = members({"role": one_of("user", "model"), "parts": list_of(PART)}, required=("parts",))
SYSTEM_INSTRUCTION = members({"role": STRING, "parts": list_of(PART)})  # google-genai sends role "user"
SAFETY_SETTING = members({"category": ENUM, "threshold": ENUM}, required=("category", "threshold"))
GENERATION_CONFIG = members(
    {
        "temperature": NUMBER,
        "topP": NUMBER,
        "topK": NUMBER,
        "candidateCount": INTEGER,
        "maxOutputTokens": INTEGER,
        "stopSequences": list_of(STRING),
        "responseMimeType": STRING,
        "responseModalities": list_of(ENUM),
        "thinkingConfig": OBJECT,
    }
)


class Checked(fields.Field):
    """A marshmallow field that runs a check: the schema reads the body's members, the checks their content."""

    def __init__(self, check: Check, **kwargs) -> None:
        kwargs.setdefault("allow_none", not kwargs.get("required"))  # proto3 JSON reads null as the default
        super().__init__(**kwargs)
        self.check = check

    def _deserialize(self, value, attr, data, **kwargs):
        if (errors := self.check(value)) is not None:
            raise ValidationError(errors)
        return value


class Lenient(Schema):
    """Unknown keys pass; snake_case spellings of known keys are read as their camelCase twins."""

    class Meta:
        unknown = INCLUDE

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # snake_case spelling -> camelCase field, worked out once per schema rather than per request
        self._camel = {_snake(name): name for name in self.fields if _snake(name) != name}

    @pre_load
    def camel_case(self, data, **kwargs):
        if not isinstance(data, dict) or not self._camel.keys() & data.keys():
            return data  # nothing to rename; a wrong type is reported by marshmallow itself
        renamed = dict(data)
        for snake, camel in self._camel.items():
            if snake in renamed and camel not in renamed:
                renamed[camel] = renamed.pop(snake)
        return renamed


class GenerateRequest(Lenient):
    contents = Checked(list_of(CONTENT, min_length=1), required=True)
    systemInstruction = Checked(SYSTEM_INSTRUCTION)
    generationConfig = Checked(GENERATION_CONFIG)
    safetySettings = Checked(list_of(SAFETY_SETTING))
    tools = Checked(list_of(OBJECT))
    toolConfig = Checked(OBJECT)
    cachedContent = Checked(STRING)


class CountTokensRequest(Lenient):
    contents = Checked(list_of(CONTENT))
    generateContentRequest = fields.Nested(GenerateRequest, allow_none=True)


SCHEMAS = {"generate": GenerateRequest(), "countTokens": CountTokensRequest()}


def parse_json(raw: bytes | bytearray) -> dict:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    if not raw or raw.isspace():  # not strip(): that copies a big body
        raise invalid("The request body is empty; send a JSON object.")
    try:
        body = decode(raw)  # refuses invalid UTF-8 and lone surrogate escapes, as Google does
    except DECODE_ERRORS as exc:
        raise invalid(_why_not_json(raw, exc)) from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    # Nesting can only pass the limit if there are more brackets than that: most bodies skip the walk. Big
    # bodies (long texts, inline files) are walked instead: counting their bytes costs more than their few nodes.
    big = len(raw) > BRACKET_COUNT_MAX
    if (big or raw.count(b"{") + raw.count(b"[") > MAX_DEPTH) and _depth_exceeds(body, MAX_DEPTH):
        raise invalid(f"The request body nests deeper than {MAX_DEPTH} levels.")
    return body


def _why_not_json(raw: bytes | bytearray, refusal: Exception) -> str:
    """What is wrong with a body msgspec refused, in the standard library's more precise words."""
    try:
        json.loads(raw)
    except UnicodeDecodeError:
        return "The request body is not valid UTF-8."
    except RecursionError:
        return f"The request body nests deeper than {MAX_DEPTH} levels."
    except ValueError as exc:
        return f"Invalid JSON payload received. {exc}."
    # The standard library takes what msgspec and Google refuse: lone surrogate escapes, NaN, Infinity.
    if _has_lone_surrogate(raw):
        return "The request body holds a lone UTF-16 surrogate escape (like \\ud800): not valid Unicode."
    return f"Invalid JSON payload received. {refusal}."


# A \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or the second without the first.
LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _has_lone_surrogate(raw: bytes | bytearray) -> bool:
    """json.loads keeps a lone surrogate escape as is, and it cannot be encoded again (Google refuses it too).

    Paired escapes (emoji from clients that escape all non-ASCII) are fine. A match preceded by an odd run of
    backslashes is the text `ud800` after an escaped backslash, not an escape.
    """
    for match in LONE_SURROGATE.finditer(raw):
        start = before = match.start()
        while before and raw[before - 1] == 0x5C:  # backslash
            before -= 1
        if (start - before) % 2 == 0:
            return True
    return False


def validate_body(kind: str, body: dict) -> dict:
    """Check a body against its schema; a 400 INVALID_ARGUMENT names every offending field."""
    schema = SCHEMAS[kind]
    errors = schema.validate(body)
    if kind == "countTokens" and not errors and body.get("contents", body.get("generateContentRequest")) is None:
        errors = {"contents": ["Either contents or generateContentRequest is required."]}
    if errors:
        raise invalid("Invalid request: " + "; ".join(_flatten(errors)))
    return body


def invalid(message: str) -> GatewayError:
    return GatewayError(400, message)


def _flatten(errors: dict | list, path: str = "") -> list[str]:
    if isinstance(errors, list):
        return [f"{path}: {' '.join(map(str, errors))}"]
    lines = []
    for key, value in errors.items():
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
        lines.extend(_flatten(value, where))
    return lines


def _depth_exceeds(value: object, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
