"""POST models/<id>:<method>: generateContent, streamGenerateContent, countTokens."""

from __future__ import annotations

import functools

from flask import Blueprint, Response, g, request

from ..routing import fallbacks_for
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
    upstream_model = resolve(gateway.catalog, model, method)  # aliases applied, once, before translation
    trace = g.trace
    trace.model, trace.stream = upstream_model, method == "streamGenerateContent"
    body = parse_json(request.get_data(cache=False))
    if method == "countTokens":
        return gateway.relay.count_tokens(upstream_model, validate_body("countTokens", body), trace)
    validate_body("generate", body)
    # Each fallback gets its own translation of the body as the client sent it, so this comes first.
    names = gateway.catalog.fallbacks(upstream_model)
    fallbacks = fallbacks_for(body, names, functools.partial(translate, rules=gateway.rules))
    upstream_model = translate(body, upstream_model, gateway.rules)
    return gateway.relay.generate(upstream_model, body, trace.stream, _sse(), trace, fallbacks)


def _sse() -> bool:
    """Whether a stream is sent as server-sent events: yes unless the client asks for JSON.

    google-generativeai asks with `$alt=json;enum-encoding=int` and reads a streamed JSON array; google-genai
    sends `alt=sse`; curl and the seed tutorial send no `alt` and expect text/event-stream.
    """
    alt = request.args.get("alt") or request.args.get("$alt") or "sse"
    return alt.partition(";")[0].strip().lower() != "json"
