"""Who may open the console: the admin key through the login form, or loopback only when auth is off.

A signed session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) holds a random session id and
whether it logged in; every POST carries a CSRF token derived from that id, which a page on another
origin can neither read nor forge.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Response, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..config import Settings
from ..errors import GatewayError

COOKIE = "gateway_console"
SESSION_AGE = 12 * 3600  # a working day; then log in again
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SECRET_FILE = "console-secret"


@dataclass(frozen=True)
class Session:
    sid: str
    admin: bool  # logged in with the admin key (auth off: nobody logs in)


def signing_key(settings: Settings) -> bytes:
    """The key that signs sessions and CSRF tokens."""
    if settings.auth_mode != "off":
        # Derived from the admin key rather than drawn at random: every worker and every host behind the
        # same key derive the same one with nothing to share or store, and rotating GATEWAY_API_KEY signs
        # every open session out. The key itself never leaves the server: only an HMAC of it signs.
        return hmac.new(settings.api_key.encode(), b"gateway console sessions", hashlib.sha256).digest()
    # No key to derive from: a random secret in the data directory, shared by this host's workers.
    return _local_secret(settings.database.parent)


def _local_secret(directory: Path) -> bytes:
    path = directory / SECRET_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        draft = directory / f"{SECRET_FILE}.{os.getpid()}"
        draft.write_text(secrets.token_hex(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic: when two workers race, the first one's secret wins for both
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes().strip()


def loopback_host(host: str) -> bool:
    """Whether a Host header names this machine: localhost, 127.x.x.x or [::1], any port."""
    name = host.partition("]")[0].lstrip("[") if host.startswith("[") else host.rpartition(":")[0] or host
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_reachable(settings: Settings) -> None:
    """With auth off the console trusts whoever reaches it, so only by a loopback name: a page that
    rebinds its own DNS name to 127.0.0.1 still sends its own name as Host. With auth on it needs the key."""
    if settings.auth_mode == "off" and not loopback_host(request.host):
        raise GatewayError(
            403, "With auth off the console answers only on localhost; set GATEWAY_API_KEY to open it elsewhere."
        )
    if settings.auth_mode != "off" and not settings.api_key:
        raise GatewayError(403, "The console opens with GATEWAY_API_KEY, and none is set.")


def admin_key_matches(settings: Settings, presented: str) -> bool:
    """Only GATEWAY_API_KEY opens the console; an empty configured key matches nothing."""
    expected = settings.api_key.encode()
    return bool(expected) and hmac.compare_digest(presented.encode(), expected)


def current_session(settings: Settings) -> Session | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    try:
        data = _serializer(settings).loads(cookie, max_age=SESSION_AGE)
    except BadSignature:
        return None
    return Session(str(data["sid"]), bool(data["admin"]))


def authorized(settings: Settings, session: Session | None) -> bool:
    """Whether this session may see the pool (with auth off, the Host rule already decided)."""
    return settings.auth_mode == "off" or (session is not None and session.admin)


def new_session(admin: bool) -> Session:
    return Session(secrets.token_urlsafe(18), admin)


def set_cookie(response: Response, settings: Settings, session: Session) -> None:
    # request.scheme is https only when gunicorn saw it, or X-Forwarded-Proto from forwarded_allow_ips said so.
    response.set_cookie(
        COOKIE,
        _serializer(settings).dumps({"sid": session.sid, "admin": session.admin}),
        max_age=SESSION_AGE,
        path="/console",
        secure=request.scheme == "https",
        httponly=True,
        samesite="Strict",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/console", secure=request.scheme == "https", httponly=True, samesite="Strict")


def csrf_token(settings: Settings, session: Session) -> str:
    return hmac.new(signing_key(settings), b"csrf:" + session.sid.encode(), hashlib.sha256).hexdigest()


def check_csrf(settings: Settings, session: Session | None) -> None:
    """Every POST carries the token of its own session (header from scripts, form field from forms)."""
    presented = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if session is None or not hmac.compare_digest(presented.encode(), csrf_token(settings, session).encode()):
        raise GatewayError(403, "Missing or invalid CSRF token: reload the console and try again.")


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key(settings), salt="gateway-console-session")
