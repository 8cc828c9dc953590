"""POST models/<id>:<method>: generateContent, streamGenerateContent, countTokens."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from ..accounts.pool import fingerprint
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
    trace = g.trace
    trace.model, trace.stream = upstream_model, method == "streamGenerateContent"
    body = parse_json(request.get_data(cache=False))
    if method == "countTokens":
        return gateway.relay.count_tokens(upstream_model, validate_body("countTokens", body), trace)
    validate_body("generate", body)
    session = fingerprint(body)  # the conversation: its account, and the thought signatures relayed in it
    upstream_model = translate(body, upstream_model, gateway.rules, session, gateway.signatures)
    # google-genai asks for SSE; google-generativeai (no alt) reads a streamed JSON array.
    sse = request.args.get("alt") == "sse"
    return gateway.relay.generate(upstream_model, body, trace.stream, sse, trace, session)
