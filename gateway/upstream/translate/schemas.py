"""Tool and response schemas rebuilt as the strict protobuf `Schema` v1internal parses (v1internal-rules.md §1).

Google reads `parameters` and `responseSchema` as a proto `Schema`: a key it does not know is a 400 at any depth
(`Unknown name "propertyNames" at '…': Cannot find field.`), and so is a sub-schema that is `true`, an integer
enum value, `parametersJsonSchema` beside `parameters`, or (to Claude) `parametersJsonSchema` at all. Clients
send JSON Schema instead — google-genai `parameters_json_schema` with `default` and `$defs`, @google/genai
`parametersJsonSchema` with `additionalProperties`, LiteLLM `parameters` with `default` — so every schema is
rebuilt from an allow-list, and what it cannot carry stays readable to the model in `description`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from . import Target

PARAMETERS = ("parameters", "parametersJsonSchema", "parameters_json_schema")  # the first one given wins
FUNCTION_RESPONSE = ("response", "responseJsonSchema", "response_json_schema")
RESPONSE_SCHEMA = ("responseSchema", "response_schema", "responseJsonSchema", "response_json_schema")

# Dropped without a hint: bookkeeping with no meaning for the model (propertyOrdering is google-genai's own),
# and the definitions, inlined where they are referenced.
SILENT = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$dynamicAnchor",
        "$comment",
        "$vocabulary",
        "propertyOrdering",
        "$defs",
        "definitions",
    }
)
FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})  # what Gemini documents
TYPE_NUMBERS = {1: "string", 2: "number", 3: "integer", 4: "boolean", 5: "array", 6: "object", 7: "null"}
TYPE_NAMES = frozenset(TYPE_NUMBERS.values())
MAX_REF_DEPTH = 32  # nesting past which a $ref is no longer inlined
MAX_REFS = 500  # $refs inlined per schema: shared definitions can otherwise grow a schema exponentially
HINT_CHARS = 200


def _count(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
        isinstance(value, str) and value.isdigit()  # int64 travels as a JSON string in proto3 JSON
    )


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Allowed keys with a plain value: kept when the value is one the proto reads, else moved into the description.
SCALARS: dict[str, Callable[[object], bool]] = {
    "title": lambda value: isinstance(value, str),
    "description": lambda value: isinstance(value, str),
    "nullable": lambda value: isinstance(value, bool),
    "format": lambda value: isinstance(value, str) and value in FORMATS,
    "minItems": _count,
    "maxItems": _count,
    "minimum": _number,
    "maximum": _number,
}


def tool_schemas(body: dict, target: Target) -> None:
    """Every function declaration's parameters (and response) schema as one cleaned `parameters` (`response`)."""
    tools = body.get("tools")
    if not tools or not isinstance(tools, list):
        return
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        declarations = tool.get("functionDeclarations", tool.get("function_declarations"))
        if isinstance(declarations, list):
            for declaration in declarations:
                if isinstance(declaration, dict):
                    _settle(declaration, "parameters", PARAMETERS)
                    _settle(declaration, "response", FUNCTION_RESPONSE)


def response_schema(body: dict, target: Target) -> None:
    """`responseSchema` / `responseJsonSchema` as one cleaned `responseSchema` (`responseMimeType` untouched)."""
    config = body.get("generationConfig", body.get("generation_config"))
    if config and isinstance(config, dict):
        _settle(config, "responseSchema", RESPONSE_SCHEMA)


def _settle(holder: dict, name: str, spellings: tuple[str, ...]) -> None:
    """Replace every spelling of one schema field (Google refuses two at once) by `name`, cleaned."""
    given = [holder.pop(key) for key in spellings if key in holder]
    schema = next((value for value in given if value is not None), None)
    if schema is not None and (cleaned := clean_schema(schema)) is not None:
        holder[name] = cleaned


def clean_schema(schema: object) -> dict | None:
    """A JSON Schema (or proto Schema) as a proto Schema holding only the keys v1internal accepts.

    None for a boolean (or otherwise non-object) schema, which the proto cannot express.
    """
    return _Cleaner(schema).node(schema, 0)


class _Cleaner:
    """One schema position: its root (where `$ref`s point) and the references being inlined."""

    def __init__(self, root: object) -> None:
        self.root = root
        self.expanding: list[str] = []
        self.budget = MAX_REFS

    def node(self, raw: object, depth: int, merged: bool = False) -> dict | None:
        """One cleaned schema; `merged`: a part folded into another (an `allOf` branch, a `$ref`), whose
        `required` may name properties a sibling part brings, so it is pruned only once they are united."""
        if not isinstance(raw, dict):
            return None  # true/false ("anything"/"nothing"): a property or item the proto cannot hold
        raw = {_camel(key): value for key, value in raw.items()}
        out: dict = {}
        hints: list[str] = []
        for key, value in raw.items():
            if key in ("$ref", "allOf", "anyOf", "oneOf"):
                continue  # compositions are merged below, after the node's own keys, which win
            if key == "type":
                _type(value, out, hints)
            elif key in ("enum", "const"):
                _enum(key, value, out, hints)
            elif key == "properties":
                self._properties(value, out, hints, depth)
            elif key == "items":
                self._items(value, out, hints, depth)
            elif key == "required" and isinstance(value, list):
                out["required"] = [name for name in value if isinstance(name, str)]
            elif key in SCALARS and SCALARS[key](value):
                out[key] = value
            elif key not in SILENT:
                hints.append(_hint(key, value))
        for part in self._all_of(raw, hints, depth):
            _merge(out, part)
        self._any_of(raw, out, hints, depth)
        _finish(out, hints, prune=not merged)
        return out

    def _properties(self, value: object, out: dict, hints: list[str], depth: int) -> None:
        if not isinstance(value, dict):
            hints.append(_hint("properties", value))
            return
        # Property names are names, never keywords: a property called "default" or "format" stays.
        properties = {name: self.node(schema, depth + 1) for name, schema in value.items()}
        out["properties"] = {name: schema for name, schema in properties.items() if schema is not None}

    def _items(self, value: object, out: dict, hints: list[str], depth: int) -> None:
        if isinstance(value, dict):
            out["items"] = self.node(value, depth + 1)
        elif not isinstance(value, bool):
            hints.append(_hint("items", value))  # tuple form: the proto has one schema for every item

    def _all_of(self, raw: dict, hints: list[str], depth: int) -> list[dict]:
        """The cleaned schemas this one is the conjunction of: its `$ref` and its `allOf` branches."""
        parts = []
        if "$ref" in raw:
            parts.append(self._ref(raw["$ref"], hints, depth))
        branches = raw.get("allOf")
        if isinstance(branches, list):
            parts.extend(self.node(branch, depth + 1, merged=True) for branch in branches)
        elif branches is not None:
            hints.append(_hint("allOf", branches))
        return [part for part in parts if part is not None]

    def _any_of(self, raw: dict, out: dict, hints: list[str], depth: int) -> None:
        """`anyOf`/`oneOf`: null branches become `nullable`, a single branch left is merged, more stay `anyOf`."""
        branches = []
        for key in ("anyOf", "oneOf"):
            if isinstance(raw.get(key), list):
                branches.extend(self.node(branch, depth + 1) for branch in raw[key])
            elif key in raw:
                hints.append(_hint(key, raw[key]))
        present = [branch for branch in branches if branch is not None]
        kept = [branch for branch in present if not _is_null(branch)]
        if len(kept) < len(present):
            out["nullable"] = True
        if len(kept) == 1:
            _merge(out, kept[0])
        elif kept and "anyOf" in out:
            hints.append(_hint("anyOf", raw.get("anyOf", raw.get("oneOf"))))  # a type list already made one
        elif kept:
            out["anyOf"] = kept

    def _ref(self, ref: object, hints: list[str], depth: int) -> dict | None:
        """The referenced schema, inlined; a reference into itself (or too deep) becomes a described object."""
        target = _pointer(self.root, ref) if isinstance(ref, str) else None
        if target is None:
            hints.append(_hint("$ref", ref))
            return None
        if ref in self.expanding or depth >= MAX_REF_DEPTH or self.budget <= 0:
            name = unquote(ref.rsplit("/", 1)[-1]).lstrip("#") or "the whole schema"
            return {"type": "object", "description": f"{name}, as defined above (not repeated here)"}
        self.budget -= 1
        self.expanding.append(ref)
        try:
            return self.node(target, depth + 1, merged=True)
        finally:
            self.expanding.pop()


def _type(value: object, out: dict, hints: list[str]) -> None:
    """A type (name in any case, or proto enum number) kept; "null" and type lists become `nullable`."""
    types = value if isinstance(value, list) else [value]
    known = [t for t in types if _type_name(t) is not None]
    if len(known) < len(types):
        hints.append(_hint("type", value))
    if any(_type_name(t) == "null" for t in known):
        out["nullable"] = True
    known = [t for t in known if _type_name(t) != "null"]
    if len(known) == 1:
        out["type"] = known[0]
    elif known:
        out["anyOf"] = [{"type": t} for t in known]


def _enum(key: str, value: object, out: dict, hints: list[str]) -> None:
    """`const` → one-value `enum` (it wins over `enum`); values as strings, the proto's `repeated string`."""
    values = [value] if key == "const" else value
    if not isinstance(values, list):
        hints.append(_hint(key, value))
        return
    if None in values:
        out["nullable"] = True
    strings = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values if v is not None]
    if strings and (key == "const" or "enum" not in out):
        out["enum"] = strings


def _merge(out: dict, part: dict) -> None:
    """Fold a cleaned schema `part` into `out`: properties and required united, `out`'s own keys win."""
    for key, value in part.items():
        if key == "properties":
            out["properties"] = {**value, **out.get("properties", {})}
        elif key == "required":
            out["required"] = list(dict.fromkeys([*out.get("required", []), *value]))
        elif key == "description" and out.get("description", value) != value:
            out["description"] = f"{out['description']} ({value})"
        else:
            out.setdefault(key, value)


def _finish(out: dict, hints: list[str], prune: bool = True) -> None:
    """`required` pruned to existing properties, objects given `properties`, hints put in the description."""
    properties = out.get("properties")
    if "required" in out and prune:
        required = [name for name in dict.fromkeys(out.pop("required")) if name in (properties or ())]
        if required:
            out["required"] = required
    if properties is None and _type_name(out.get("type")) == "object":
        out["properties"] = {}
    if hints:
        text = "; ".join(hints)
        out["description"] = f"{out['description']} ({text})" if out.get("description") else text


def _is_null(schema: dict) -> bool:
    """A branch that only allows null (what `{"type": "null"}` cleans to)."""
    return schema.get("nullable") is True and schema.keys() <= {"nullable", "title", "description"}


def _type_name(value: object) -> str | None:
    if isinstance(value, str):
        return value.lower() if value.lower() in TYPE_NAMES else None
    if isinstance(value, int) and not isinstance(value, bool):
        return TYPE_NUMBERS.get(value)
    return None


def _pointer(root: object, ref: str) -> object:
    """What a local `$ref` (`#`, `#/$defs/Name`, any JSON pointer) points at in the schema; None if nothing."""
    if not ref.startswith("#"):
        return None  # remote references: nothing to fetch them from
    node = root
    for token in filter(None, ref[1:].split("/")):
        token = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _camel(key: str) -> str:
    """google-genai writes some schema keywords in snake_case (`min_items`, `property_ordering`, `any_of`)."""
    if "_" not in key or key.startswith(("$", "x-")):
        return key
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _hint(key: str, value: object) -> str:
    """A dropped keyword as text the model reads: `default: 3`, `pattern: ^a+$`."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return f"{key}: {text if len(text) <= HINT_CHARS else text[: HINT_CHARS - 1] + '…'}"
