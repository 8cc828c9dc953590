"""The client key check, run before every request."""

from __future__ import annotations

import functools
import hmac

from flask import Flask, current_app, g, request

from . import cors
from .errors import GatewayError
from .files.views import step_upload
from .keys.gate import check_requested_model
from .trace import Trace

PUBLIC_PATHS = frozenset({"/healthz", "/health"})
ADMIN_ONLY = ("/metrics",)  # operators' pages: GATEWAY_API_KEY opens them, no team key does
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


UNAUTHENTICATED = (
    "Missing or invalid API key. Send it in the x-goog-api-key header, "
    "Authorization: Bearer, x-api-key or the key query parameter."
)


def matches_admin_key(candidate: str) -> bool:
    """Whether this is GATEWAY_API_KEY, compared in constant time; an empty configured key matches nothing."""
    expected = current_app.extensions["gateway"].settings.api_key.encode()
    return bool(expected) and hmac.compare_digest(candidate.encode(), expected)


def is_admin() -> bool:
    """Whether this request came with GATEWAY_API_KEY (set by the hook; False with auth off)."""
    return g.get("key_name") == "admin"


def check_key() -> None:
    gateway = current_app.extensions["gateway"]
    settings = gateway.settings
    mode = settings.auth_mode
    if request.method == "OPTIONS":
        return
    if request.path == CONSOLE or request.path.startswith(CONSOLE + "/"):
        return
    if mode == "off" and settings.auth_auto and gateway.keys.exist():
        mode = "all_except_health"  # auto means off only while there is no key at all, team keys included
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
    if (upload := step_upload()) is not None:
        # google-genai sends the steps after an upload's start without a key: the upload URL's unguessable id
        # is their credential, and the upload stays its starter's (gateway/files/views.py reads it from g).
        trace = g.get("trace")
        if trace is not None:
            trace.key = upload.owner.partition("#")[0] or "admin"
        return
    presented = presented_keys()
    if any(matches_admin_key(key) for key in presented):
        _identified("admin")
        return
    team = None if _admin_only(request.path) else gateway.keys.identify(presented)
    if team is None:
        raise GatewayError(
            401,
            UNAUTHENTICATED,
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        )
    g.team_key = team
    trace = _identified(team.name)
    if team.models:  # the 403 before the 429
        check_requested_model(gateway.catalog)
    gateway.keys.admit(team)  # may raise the key's 429; the refused request is still logged under its name
    if trace is not None:
        trace.charge = functools.partial(gateway.keys.charge, team)


def _identified(name: str) -> Trace | None:
    g.key_name = name
    trace = g.get("trace")
    if trace is not None:
        trace.key = name
    return trace


def _admin_only(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in ADMIN_ONLY)


def init_app(app: Flask) -> None:
    app.before_request(check_key)
