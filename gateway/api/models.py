"""GET models and models/<id>: the catalog as a Gemini ListModelsResponse / Model."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, request
from werkzeug.exceptions import MethodNotAllowed

from ..errors import GatewayError, json_response
from ..keys.gate import check_model, visible
from ..services import services
from .target import check_method, check_model_id, split_target

bp = Blueprint("models", __name__)
DEFAULT_PAGE = 50  # Google's default pageSize
MAX_PAGE = 1000


@bp.get("/models")
def list_models() -> Response:
    models = visible(services().catalog.models())
    size = _page_size(request.args.get("pageSize"))
    start = _offset(request.args.get("pageToken"), len(models))
    page = {"models": models[start : start + size]}
    if start + size < len(models):
        page["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
    return json_response(page)


@bp.get("/models/<path:target>")
def get_model(target: str) -> Response:
    model, method = split_target(target)
    if method:
        check_method(method)  # a GET of models/<id>:embedContent still names the feature (501)
        raise MethodNotAllowed(valid_methods=["POST"])  # generateContent and the like are POSTs
    entry = services().catalog.get(check_model_id(model)) if not method else None
    if entry is None:
        raise GatewayError(404, f"models/{model} is not found for API version v1beta.")
    check_model(model)
    return json_response(entry)


def _page_size(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_PAGE
    if not value.isdigit():
        raise GatewayError(400, f"Invalid pageSize {value!r}: expected a non-negative integer.")
    return min(int(value), MAX_PAGE) or DEFAULT_PAGE


def _offset(token: str | None, total: int) -> int:
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        offset = int(number)
    except ValueError:
        kind, offset = "", -1
    if kind != "offset" or not 0 <= offset <= total:
        raise GatewayError(400, "Invalid pageToken: pass the nextPageToken of the previous page unchanged.")
    return offset
