"""POST models/<id>:<method>: generateContent, streamGenerateContent, countTokens."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from ..keys.gate import check_model
from ..schemas import parse_json, validate_body
from ..services import services
from ..upstream.translate import translate
from .target import check_method, resolve, split_target

bp = Blueprint("generate", __name__)


@bp.post("/models/<path:target>")
def model_method(target: str) -> Response:
    model, method = split_target(target)
    check_method(method)
    gateway = services()
    upstream_model = resolve(gateway.catalog, model, method)
    check_model(upstream_model)  # what would be served, so an alias cannot reach a model the key may not use
    trace = g.trace
    trace.model, trace.stream = upstream_model, method == "streamGenerateContent"
    body = parse_json(request.get_data(cache=False))
    if method == "countTokens":
        return gateway.relay.count_tokens(upstream_model, validate_body("countTokens", body), trace)
    validate_body("generate", body)
    upstream_model = translate(body, upstream_model, gateway.rules)
    # google-genai asks for SSE; google-generativeai (no alt) reads a streamed JSON array.
    return gateway.relay.generate(upstream_model, body, trace.stream, request.args.get("alt") == "sse", trace)
