"""Request bodies, checked at the door: both key casings, enums as names or numbers.

Validation only: the body travels upstream as the client wrote it (v1internal parses proto3 JSON, which
accepts both casings and numeric enums), so nothing the gateway does not understand is lost.
"""

from __future__ import annotations

import json

from marshmallow import INCLUDE, Schema, ValidationError, fields, pre_load, validate

from .errors import GatewayError

MAX_DEPTH = 100  # Google's own proto parser gives up deeper than this


class EnumValue(fields.Field):
    """A proto enum: its name (google-genai) or its number (google-generativeai)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("Not a valid enum value: expected a name or a number.")
        return value


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


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


class Parts(fields.Field):
    """A content's parts: objects whose known members have the right JSON types.

    Checked in one loop instead of a nested schema per part: parts are the bulk of every request.
    """

    KINDS = {
        "text": str,
        "thought": bool,
        "thoughtSignature": str,
        "inlineData": dict,
        "fileData": dict,
        "functionCall": dict,
        "functionResponse": dict,
    }
    NAMES = {"text": "string", "thought": "boolean", "thoughtSignature": "string"}
    CHECKS = tuple((name, _snake(name), kind) for name, kind in KINDS.items())

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        errors: dict = {}
        for index, part in enumerate(value):
            if not isinstance(part, dict):
                errors[index] = ["Not a valid object."]
                continue
            for name, snake, kind in self.CHECKS:
                member = part.get(name, part.get(snake))
                if member is not None and not isinstance(member, kind):
                    errors.setdefault(index, {})[name] = [f"Not a valid {self.NAMES.get(name, 'object')}."]
        if errors:
            raise ValidationError(errors)
        return value


class Content(Lenient):
    role = fields.String(validate=validate.OneOf(["user", "model"]))
    parts = Parts(required=True)


class SystemInstruction(Content):
    role = fields.String()  # google-genai sends "user"; Google ignores it here


class SafetySetting(Lenient):
    category = EnumValue(required=True)
    threshold = EnumValue(required=True)


class GenerationConfig(Lenient):
    temperature = fields.Float()
    topP = fields.Float()
    topK = fields.Float()
    candidateCount = fields.Integer(strict=True)
    maxOutputTokens = fields.Integer(strict=True)
    stopSequences = fields.List(fields.String())
    responseMimeType = fields.String()
    responseModalities = fields.List(EnumValue())
    thinkingConfig = fields.Dict()


class GenerateRequest(Lenient):
    contents = fields.List(fields.Nested(Content), required=True, validate=validate.Length(min=1))
    systemInstruction = fields.Nested(SystemInstruction)
    generationConfig = fields.Nested(GenerationConfig)
    safetySettings = fields.List(fields.Nested(SafetySetting))
    tools = fields.List(fields.Dict())
    toolConfig = fields.Dict()
    cachedContent = fields.String()


class CountTokensRequest(Lenient):
    contents = fields.List(fields.Nested(Content))
    generateContentRequest = fields.Nested(GenerateRequest)


SCHEMAS = {"generate": GenerateRequest(), "countTokens": CountTokensRequest()}


def parse_json(raw: bytes) -> dict:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    if not raw.strip():
        raise invalid("The request body is empty; send a JSON object.")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid("The request body is not valid UTF-8.") from None
    except RecursionError:
        raise invalid(f"The request body nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    if _depth_exceeds(body, MAX_DEPTH):
        raise invalid(f"The request body nests deeper than {MAX_DEPTH} levels.")
    return body


def validate_body(kind: str, body: dict) -> dict:
    """Check a body against its schema; a 400 INVALID_ARGUMENT names every offending field."""
    schema = SCHEMAS[kind]
    errors = schema.validate(body)
    if kind == "countTokens" and not errors and "contents" not in body and "generateContentRequest" not in body:
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
