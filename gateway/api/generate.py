"""POST models/<id>:<method>: generateContent, streamGenerateContent, countTokens."""

from __future__ import annotations

import functools

from flask import Blueprint, Response, g, request

from ..accounts.pool import fingerprint
from ..files.inline import inline_files
from ..keys.gate import check_model
from ..routing import fallbacks_for
from ..schemas import parse_json, validate_body
from ..services import services
from ..upstream.translate import translate
from ..upstream.translate.suffixes import bare_model
from ..upstream.translate.thinking import requested_level
from .body import PIECE, let_streams_run, read_body, written_in_pieces
from .target import check_method, resolve, split_target

bp = Blueprint("generate", __name__)


@bp.post("/models/<path:target>")
def model_method(target: str) -> Response:
    model, method = split_target(target)
    check_method(method)
    gateway = services()
    catalog = gateway.catalog  # read once: each read checks whether the accounts changed
    raw = read_body()
    body = parse_json(raw)
    # Cloud Code cannot fetch a Files API file: its bytes go inline, before anything reads the parts.
    large = len(raw) + inline_files(gateway.files, body) > PIECE
    if large:
        let_streams_run()  # after one long step (parsing)
    # Aliases applied, once, before translation; the body's thinking level picks a tiered id's tier.
    upstream_model = resolve(catalog, model, method, requested_level(body, gateway.families(model)))
    check_model(upstream_model)  # what would be served, so an alias cannot reach a model the key may not use
    trace = g.trace
    trace.model, trace.stream = upstream_model, method == "streamGenerateContent"
    if method == "countTokens":
        trace.model = bare_model(upstream_model)
        return gateway.relay.count_tokens(trace.model, validate_body("countTokens", body), trace)
    validate_body("generate", body)
    session = fingerprint(body)  # the conversation: its account, and the thought signatures relayed in it
    # Each fallback gets its own translation of the body as the client sent it, so this comes first.
    names = catalog.fallbacks(upstream_model)
    own = functools.partial(
        translate, rules=gateway.rules, session=session, signatures=gateway.signatures, families=gateway.families
    )
    fallbacks = fallbacks_for(body, names, own)
    trace.model = upstream_model = own(body, upstream_model)  # the model actually sent
    if large:
        body = written_in_pieces(body)
    return gateway.relay.generate(upstream_model, body, trace.stream, _sse(), trace, session, fallbacks)


def _sse() -> bool:
    """Whether a stream is sent as server-sent events: yes unless the client asks for JSON.

    google-generativeai asks with `$alt=json;enum-encoding=int` and reads a streamed JSON array; google-genai
    sends `alt=sse`; curl and the seed tutorial send no `alt` and expect text/event-stream.
    """
    if "alt" not in request.environ.get("QUERY_STRING", ""):  # most requests: no need to parse the query
        return True
    alt = request.args.get("alt") or request.args.get("$alt") or "sse"
    return alt.partition(";")[0].strip().lower() != "json"
