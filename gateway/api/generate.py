"""POST models/<id>:<method>: generateContent, streamGenerateContent, countTokens."""

from __future__ import annotations

import functools

import gevent
from flask import Blueprint, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..accounts.pool import fingerprint
from ..keys.gate import check_model
from ..routing import fallbacks_for
from ..schemas import parse_json, validate_body
from ..services import services
from ..upstream.translate import translate
from ..upstream.translate.suffixes import bare_model
from .target import check_method, resolve, split_target

bp = Blueprint("generate", __name__)
LARGE_BODY = 1 << 20  # bytes: a body this big takes milliseconds to parse and as long again to send on
BODY_PIECE = 1 << 20  # bytes read at a time


@bp.post("/models/<path:target>")
def model_method(target: str) -> Response:
    model, method = split_target(target)
    check_method(method)
    gateway = services()
    catalog = gateway.catalog  # read once: each read checks whether the accounts changed
    upstream_model = resolve(catalog, model, method)  # aliases applied, once, before translation
    check_model(upstream_model)  # what would be served, so an alias cannot reach a model the key may not use
    trace = g.trace
    trace.model, trace.stream = upstream_model, method == "streamGenerateContent"
    raw = read_body()
    body = parse_json(raw)
    if len(raw) > LARGE_BODY:
        gevent.sleep(0)  # between two long steps (parsing, then writing it upstream) the worker's other streams run
    if method == "countTokens":
        trace.model = bare_model(upstream_model)
        return gateway.relay.count_tokens(trace.model, validate_body("countTokens", body), trace)
    validate_body("generate", body)
    session = fingerprint(body)  # the conversation: its account, and the thought signatures relayed in it
    # Each fallback gets its own translation of the body as the client sent it, so this comes first.
    names = catalog.fallbacks(upstream_model)
    own = functools.partial(translate, rules=gateway.rules, session=session, signatures=gateway.signatures)
    fallbacks = fallbacks_for(body, names, own)
    trace.model = upstream_model = own(body, upstream_model)  # the model actually sent
    return gateway.relay.generate(upstream_model, body, trace.stream, _sse(), trace, session, fallbacks)


def read_body() -> bytes | bytearray:
    """The request body, a megabyte at a time with the worker's other streams let in between pieces.

    Read from `wsgi.input` itself, which gunicorn ends where the body ends (Content-Length or chunked). werkzeug's
    wrapper asks it for 64 KB at a time, and gunicorn's reader copies what it holds on every read: 78 ms of CPU
    for an 18 MB body, 21 ms in 1 MB pieces. A chunked body past the limit is refused like an announced one
    (werkzeug's wrapper would stop reading there without a word).
    """
    length, limit = request.content_length, request.max_content_length
    if length is not None and limit is not None and length > limit:
        raise RequestEntityTooLarge()
    source = request.environ["wsgi.input"]
    if length is not None and length <= BODY_PIECE:
        return source.read(length)
    body = bytearray()  # grown in place: no list of pieces joined (a copy of the whole body) at the end
    while piece := source.read(BODY_PIECE):
        body += piece
        if limit is not None and len(body) > limit:
            raise RequestEntityTooLarge()
        gevent.sleep(0)
    return body


def _sse() -> bool:
    """Whether a stream is sent as server-sent events: yes unless the client asks for JSON.

    google-generativeai asks with `$alt=json;enum-encoding=int` and reads a streamed JSON array; google-genai
    sends `alt=sse`; curl and the seed tutorial send no `alt` and expect text/event-stream.
    """
    if "alt" not in request.environ.get("QUERY_STRING", ""):  # most requests: no need to parse the query
        return True
    alt = request.args.get("alt") or request.args.get("$alt") or "sse"
    return alt.partition(";")[0].strip().lower() != "json"
