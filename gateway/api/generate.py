"""POST models/<id>:<method>: generateContent, streamGenerateContent, countTokens."""

from __future__ import annotations

from flask import Blueprint, request

from ..schemas import parse_json, validate_body
from ..services import services
from .target import check_method, resolve, split_target

bp = Blueprint("generate", __name__)


@bp.post("/models/<path:target>")
def model_method(target: str):
    model, method = split_target(target)
    check_method(method)
    gateway = services()
    upstream_model = resolve(gateway.catalog, model, method)
    body = parse_json(request.get_data(cache=False))
    if method == "countTokens":
        return gateway.relay.count_tokens(upstream_model, validate_body("countTokens", body))
    validate_body("generate", body)
    stream = method == "streamGenerateContent"
    # google-genai asks for SSE; google-generativeai (no alt) reads a streamed JSON array.
    return gateway.relay.generate(upstream_model, body, stream=stream, sse=request.args.get("alt") == "sse")
