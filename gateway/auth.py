"""The client key check, run before every request."""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from . import cors
from .errors import GatewayError

PUBLIC_PATHS = frozenset({"/healthz", "/health"})
CONSOLE = "/console"  # its own rules (gateway/console/access.py): a login cookie, not an API key


def presented_keys() -> list[str]:
    """Every key the client sent: Authorization (Bearer or bare), x-api-key, x-goog-api-key, ?key=."""
    environ = request.environ  # read directly: werkzeug's header view re-spells the name on every lookup
    keys = [environ.get("HTTP_X_GOOG_API_KEY", ""), environ.get("HTTP_X_API_KEY", "")]
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        keys.append(token.strip() if scheme.lower() == "bearer" else authorization.strip())
    if "key=" in environ.get("QUERY_STRING", ""):
        keys.append(request.args.get("key", ""))
    return [key for key in keys if key]


def check_key() -> None:
    settings = current_app.extensions["gateway"].settings
    mode = settings.auth_mode
    if request.method == "OPTIONS":
        return
    if request.path == CONSOLE or request.path.startswith(CONSOLE + "/"):
        return
    if mode == "off":
        # Browsers add Origin to cross-site calls; no client SDK or curl does. Without a key, any web page
        # the user visits could otherwise spend the pool's quota through the user's own browser.
        origin = request.environ.get("HTTP_ORIGIN")
        if origin and not cors.allowed(origin, settings):
            raise GatewayError(
                403,
                "Requests from web pages need an API key (GATEWAY_API_KEY, GATEWAY_AUTH_MODE) "
                "or their origin in GATEWAY_CORS_ORIGINS.",
            )
        return
    if mode == "all_except_health" and request.path in PUBLIC_PATHS:
        return
    if request.path == "/metrics" and settings.metrics_public:
        return
    expected = settings.api_key.encode()
    # Compare against every presented key in constant time; an empty configured key matches nothing.
    if expected and any(hmac.compare_digest(key.encode(), expected) for key in presented_keys()):
        return
    raise GatewayError(
        401,
        "Missing or invalid API key. Send it in the x-goog-api-key header, "
        "Authorization: Bearer, x-api-key or the key query parameter.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ],
    )


def init_app(app: Flask) -> None:
    app.before_request(check_key)
