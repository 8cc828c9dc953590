"""Google's installed-app sign-in: a browser on this machine (loopback redirect) or a pasted code."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from ..config import Settings

# Antigravity's client asks for these (antigravity-gemini-spec §12.1); cloud-platform is what v1internal needs.
SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
)
PASTE_REDIRECT = "http://localhost:8085/oauth-callback"  # nothing listens: the user copies the URL it fails on
WAIT_SECONDS = 300


class LoginError(Exception):
    """The sign-in did not produce an authorization code."""


@dataclass(frozen=True)
class Authorization:
    url: str
    redirect_uri: str
    state: str
    verifier: str


def authorization(settings: Settings, redirect_uri: str) -> Authorization:
    """The consent URL, with a fresh state and PKCE verifier."""
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": settings.oauth_client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "access_type": "offline",
        "prompt": "consent",  # without it Google grants no refresh token the second time
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return Authorization(f"{settings.oauth_auth_url}?{urlencode(query)}", redirect_uri, state, verifier)


def code_from(pasted: str, state: str) -> str:
    """The code in a pasted redirect URL (its state checked) or a bare pasted code."""
    pasted = pasted.strip()
    if "://" not in pasted and "code=" not in pasted:
        if not pasted:
            raise LoginError("nothing was pasted")
        return pasted
    query = parse_qs(urlsplit(pasted).query or pasted)
    if "error" in query:
        raise LoginError(f"Google refused: {query['error'][0]}")
    if query.get("state", [state])[0] != state:
        raise LoginError("the pasted URL belongs to another sign-in (state mismatch)")
    if not query.get("code"):
        raise LoginError("the pasted URL holds no code")
    return query["code"][0]


class CallbackServer:
    """Listens on a loopback port for the one redirect that carries the code."""

    def __init__(self) -> None:
        received: dict[str, str] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                if "code" in query or "error" in query:
                    received.update(query)
                page = b"Signed in. You can close this tab and return to the terminal."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            timeout = 10  # a client that connects and sends nothing must not hold the wait past its deadline

            def log_message(self, *args) -> None:
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 1
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/oauth-callback"

    def close(self) -> None:
        self.server.server_close()

    def wait_for_code(self, state: str, seconds: float = WAIT_SECONDS) -> str:
        deadline = time.monotonic() + seconds
        with self.server:
            while not self.received and (left := deadline - time.monotonic()) > 0:
                self.server.timeout = min(left, 1.0)
                self.server.handle_request()
        if not self.received:
            raise LoginError(
                f"no sign-in arrived within {seconds:g} s; on a machine without a browser, "
                "use `gateway accounts login --no-browser`"
            )
        if "error" in self.received:
            raise LoginError(f"Google refused: {self.received['error']}")
        if self.received.get("state") != state:
            raise LoginError("the redirect belongs to another sign-in (state mismatch)")
        return self.received["code"]
