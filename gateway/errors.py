"""Google's error shape, and the one place that turns any failure into it."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from .codec import dumps_line
from .request_id import current

log = logging.getLogger(__name__)

# HTTP status -> google.rpc.Code name, as the Gemini API pairs them.
RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    411: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
REQUEST_INFO = "type.googleapis.com/google.rpc.RequestInfo"


class GatewayError(Exception):
    """A failure with an HTTP status that the client sees in Google's error shape."""

    def __init__(
        self,
        code: int,
        message: str,
        status: str | None = None,
        details: Iterable[Mapping] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or RPC_STATUS.get(code, "UNKNOWN")
        self.details = list(details)
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return google_error(self.code, self.status, self.message, self.details)

    def response(self) -> Response:
        body = self.body()
        # Google's own way to name the request in an error, so users can quote it and operators grep logs.
        body["error"]["details"].append({"@type": REQUEST_INFO, "requestId": current()})
        return json_response(body, self.code, self.headers)


def google_error(code: int, status: str, message: str, details: Iterable[Mapping] = ()) -> dict:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


def too_many_requests(message: str, retry_after: float) -> GatewayError:
    """A 429 that tells the client when to come back."""
    return with_retry_delay(GatewayError(429, message), retry_after)


def with_retry_delay(error: GatewayError, seconds: float) -> GatewayError:
    """Say when to retry in both ways clients read it: a Retry-After header and a RetryInfo detail."""
    seconds = max(1, math.ceil(seconds))
    error.headers.setdefault("Retry-After", str(seconds))
    if not any(detail.get("@type") == RETRY_INFO for detail in error.details):
        error.details.append({"@type": RETRY_INFO, "retryDelay": f"{seconds}s"})
    return error


def json_response(payload: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps_line(payload), status=status, headers=headers, content_type="application/json; charset=UTF-8")


def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    if code == 404:
        message = "Requested entity was not found."
    elif code == 405:
        message = "Method not allowed for this resource."
    elif code == 413:
        message = "Request payload size exceeds the limit: 20971520 bytes."
    else:
        message = error.description or error.name
    response = GatewayError(code, message).response()
    if code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("unexpected error", extra={"fields": {"request_id": current()}})
    return GatewayError(500, f"Internal error in the gateway (request id {current()}); it was logged.").response()


def init_app(app: Flask) -> None:
    app.register_error_handler(GatewayError, GatewayError.response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
