"""Calls from web pages (CORS), allowed the way Google's own API allows them, minus its one risk.

Google answers any origin: a page still needs the key. The same holds here when a key is required. With
auth off, any page the user visits could spend the pool's quota through the user's browser, so only the
origins listed in GATEWAY_CORS_ORIGINS may call (auth refuses the others).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from .config import Settings

# what a page may read besides the body: the upload protocol's answers too (the SDKs read them)
EXPOSED = "X-Request-Id, Retry-After, X-Goog-Upload-URL, X-Goog-Upload-Status, X-Goog-Upload-Size-Received"
PREFLIGHT_MAX_AGE = "3600"


def allowed(origin: str, settings: Settings) -> bool:
    """Whether a page from `origin` may call the gateway."""
    if settings.cors_origins:
        return "*" in settings.cors_origins or origin in settings.cors_origins
    return settings.auth_mode != "off"


def _preflight() -> Response | None:
    """Answer a browser's preflight before auth: it never carries the key."""
    origin = request.environ.get("HTTP_ORIGIN")
    if request.method != "OPTIONS" or not origin or "HTTP_ACCESS_CONTROL_REQUEST_METHOD" not in request.environ:
        return None
    response = Response(status=204)
    if allowed(origin, current_app.extensions["gateway"].settings):
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.environ.get(
            "HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "Content-Type, x-goog-api-key"
        )
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


def _allow(response: Response) -> Response:
    origin = request.environ.get("HTTP_ORIGIN")
    if origin and allowed(origin, current_app.extensions["gateway"].settings):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED
        response.vary.add("Origin")
    return response


def init_app(app: Flask) -> None:
    app.before_request(_preflight)  # registered before auth
    app.after_request(_allow)  # errors too: a page can read why it was refused
