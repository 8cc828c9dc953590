"""Gemini API features Cloud Code Assist cannot serve: 501 UNIMPLEMENTED naming the feature, any method.

Registered under every version prefix (and /upload/…, where the SDKs send uploads), so a client gets a
clear answer instead of a bare 404. The Files API is served (gateway/files/); these are not. The auth hook
runs first: a caller without the key still gets 401.
"""

from __future__ import annotations

from flask import Blueprint, Response
from werkzeug.exceptions import MethodNotAllowed

from .target import COLLECTIONS, FEATURES, split_target, unsupported

bp = Blueprint("unsupported", __name__)
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE"]


FEATURE = "any(" + ", ".join(COLLECTIONS) + ")"


@bp.route(f"/<{FEATURE}:feature>", methods=ANY_METHOD)
@bp.route(f"/<{FEATURE}:feature>/<path:_rest>", methods=ANY_METHOD)
@bp.route(f"/<{FEATURE}:feature>:<_verb>", methods=ANY_METHOD)  # collection methods: files:register
def collection(feature: str, _rest: str = "", _verb: str = "") -> Response:
    raise unsupported(feature)


@bp.route("/models/<path:target>", methods=["PUT", "PATCH", "DELETE"])
def other_model_methods(target: str) -> Response:
    """models/<id>:embedContent and the like by any method; other model paths take only GET and POST."""
    method = split_target(target)[1]
    if method in FEATURES:
        raise unsupported(method)
    raise MethodNotAllowed(valid_methods=["GET", "POST"])
