"""A fake Google for tests: OAuth token + userinfo endpoints and the v1internal methods, on loopback.

A real HTTP server (threads, HTTP/1.1, chunked streams with real delays), scripted per test with `Reply`s
and recording every call, so tests can count what reached "Google" and from which account.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    json: object = None  # a plain JSON body
    events: list | None = None  # a stream: each event wrapped as v1internal does, unless already wrapped
    delay: float = 0.0  # before the status line
    event_delay: float = 0.0  # before each event after the first
    cut_after: int | None = None  # drop the connection after this many events, without ending the stream
    headers: dict = field(default_factory=dict)


@dataclass
class Call:
    method: str  # v1internal method, "token", "userinfo" or "operation"
    http_method: str
    path: str
    query: dict
    headers: dict
    body: object
    account: str | None  # email behind the bearer token presented, if valid
    base: str  # the origin that received it


@dataclass
class FakeAccount:
    email: str
    project: str
    tier: str
    onboarded: bool
    revoked: bool
    expires_in: int


class FakeGoogle:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._failing: dict[str, int | None] = {}
        self.url = ""
        self.reset()

    # ---- control, from tests ----

    def start(self) -> FakeGoogle:
        self.url = self.add_origin()
        self.token_url = self.url + "/token"
        self.userinfo_url = self.url + "/oauth2/v2/userinfo"
        return self

    def add_origin(self) -> str:
        """Another listener sharing this fake's state (for base-URL fallback tests)."""
        fake = self

        class Handler(_Handler):
            google = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def fail_origin(self, origin: str, status: int | None = 503) -> None:
        """Make every v1internal call to this origin answer `status` (None: close without answering)."""
        self._failing[origin] = status

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.accounts: dict[str, FakeAccount] = {}  # by refresh token
            self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (email, expiry)
            self.scripts: defaultdict[tuple[str, str | None], deque[Reply]] = defaultdict(deque)
            self.calls: list[Call] = []
            self.disconnects: list[str] = []  # methods whose client left mid-stream
            self.operations: dict[str, list] = {}
            self.codes: dict[str, str] = {}  # authorization code -> refresh token it grants
            self._counter = itertools.count(1)
            self._failing = {}

    def add_account(
        self,
        refresh_token: str,
        email: str,
        project: str = "proj-1",
        tier: str = "free-tier",
        onboarded: bool = True,
        revoked: bool = False,
        expires_in: int = 3600,
    ) -> None:
        self.accounts[refresh_token] = FakeAccount(email, project, tier, onboarded, revoked, expires_in)

    def add_code(self, code: str, refresh_token: str) -> None:
        """An authorization code that the token endpoint exchanges for this account's refresh token."""
        self.codes[code] = refresh_token

    def script(self, method: str, *replies: Reply, account: str | None = None) -> None:
        self.scripts[(method, account)].extend(replies)

    def calls_to(self, method: str, account: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (account is None or c.account == account)]

    # ---- behaviour, from the handler ----

    def scripted(self, method: str, account: str | None) -> Reply | None:
        with self._lock:
            for key in ((method, account), (method, None)):
                if self.scripts[key]:
                    return self.scripts[key].popleft()
        return None

    def account_for(self, authorization: str) -> FakeAccount | None:
        token = authorization.removeprefix("Bearer ")
        email, expiry = self.tokens.get(token, ("", 0.0))
        if expiry < time.time():
            return None
        return next((a for a in self.accounts.values() if a.email == email), None)

    def refresh(self, form: dict) -> Reply:
        if form.get("grant_type") == "authorization_code":
            refresh_token = self.codes.pop(form.get("code", ""), "")
            if not refresh_token or not form.get("code_verifier"):
                return Reply(400, {"error": "invalid_grant", "error_description": "Bad code."})
            return Reply(
                json={
                    **self.refresh({"grant_type": "refresh_token", "refresh_token": refresh_token}).json,
                    "refresh_token": refresh_token,
                }
            )
        account = self.accounts.get(form.get("refresh_token", ""))
        if account is None or account.revoked or form.get("grant_type") != "refresh_token":
            return Reply(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        token = f"ya29.fake-{account.email}-{next(self._counter)}"
        self.tokens[token] = (account.email, time.time() + account.expires_in)
        return Reply(json={"access_token": token, "expires_in": account.expires_in, "token_type": "Bearer"})

    def default(self, method: str, account: FakeAccount, body: dict) -> Reply:
        n = next(self._counter)
        if method == "loadCodeAssist":
            tiers = [{"id": "free-tier", "isDefault": True, "userDefinedCloudaicompanionProject": False}]
            if not account.onboarded:
                return Reply(json={"allowedTiers": tiers})
            return Reply(
                json={
                    "currentTier": {"id": account.tier, "name": account.tier},
                    "allowedTiers": tiers,
                    "cloudaicompanionProject": account.project,
                }
            )
        if method == "onboardUser":
            name = f"operations/onboard-{n}"
            self.operations[name] = [account, 0]
            return Reply(json={"name": name, "done": False})
        if method == "fetchAvailableModels":
            quota = {"remainingFraction": 1.0, "resetTime": "2026-11-26T00:00:00Z"}
            return Reply(
                json={
                    "models": {
                        model: {
                            "displayName": model,
                            "maxTokens": 1048576,
                            "maxOutputTokens": 65535,
                            "quotaInfo": quota,
                        }
                        for model in ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-high")
                    }
                }
            )
        if method == "countTokens":
            contents = (body.get("request") or {}).get("contents") or []
            words = sum(len(str(p.get("text", "")).split()) for c in contents for p in c.get("parts") or ())
            return Reply(json={"totalTokens": words})
        model = body.get("model", "")
        first = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
            "modelVersion": model,
            "responseId": f"resp-{n}",
        }
        last = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
            "modelVersion": model,
            "responseId": f"resp-{n}",
        }
        if method == "streamGenerateContent":
            return Reply(events=[first, last])
        if method == "generateContent":
            return Reply(
                json={
                    "response": {
                        **last,
                        "candidates": [
                            {**last["candidates"][0], "content": {"role": "model", "parts": [{"text": "Hello"}]}}
                        ],
                    },
                    "traceId": f"t{n}",
                }
            )
        return Reply(404, {"error": {"code": 404, "message": f"Method {method} not found.", "status": "NOT_FOUND"}})

    def poll(self, name: str) -> Reply:
        account, polls = self.operations.get(name, (None, 0))
        if account is None:
            return Reply(404, {"error": {"code": 404, "message": "no such operation", "status": "NOT_FOUND"}})
        self.operations[name][1] += 1
        if polls == 0:
            return Reply(json={"name": name, "done": False})
        account.onboarded = True
        return Reply(
            json={
                "name": name,
                "done": True,
                "response": {"cloudaicompanionProject": {"id": account.project, "name": account.project}},
            }
        )


UNAUTHENTICATED = {
    "error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}
}


class _Handler(BaseHTTPRequestHandler):
    google: FakeGoogle
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Events are small writes: without this, Nagle + delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        google = self.google
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/token":
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            body = json.loads(raw) if raw else None
        if url.path == "/token":
            method = "token"
        elif url.path == "/oauth2/v2/userinfo":
            method = "userinfo"
        elif url.path.startswith("/v1internal/operations/"):
            method = "operation"
        else:
            method = url.path.removeprefix("/v1internal:")
        account = google.account_for(self.headers.get("Authorization", ""))
        origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        with google._lock:
            google.calls.append(
                Call(
                    method,
                    self.command,
                    url.path,
                    parse_qs(url.query),
                    dict(self.headers),
                    body,
                    account.email if account else None,
                    origin,
                )
            )
        if method != "token" and origin in google._failing:
            status = google._failing[origin]
            if status is None:
                self.close_connection = True
                return self.connection.close()
            return self._send(Reply(status, {"error": {"code": status, "message": "origin down"}}), method)
        reply = google.scripted(method, account.email if account else None)
        if reply is None:
            if method == "token":
                reply = google.refresh(body)
            elif account is None:
                reply = Reply(401, UNAUTHENTICATED)
            elif method == "userinfo":
                reply = Reply(json={"email": account.email, "verified_email": True, "name": account.email})
            elif method == "operation":
                reply = google.poll(url.path.removeprefix("/v1internal/"))
            else:
                reply = google.default(method, account, body or {})
        self._send(reply, method)

    def _send(self, reply: Reply, method: str) -> None:
        time.sleep(reply.delay)
        try:
            if reply.events is None:
                payload = json.dumps(reply.json if reply.json is not None else {}).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for index, event in enumerate(reply.events):
                if reply.cut_after is not None and index >= reply.cut_after:
                    self.close_connection = True
                    self.connection.shutdown(2)  # mid-stream, no terminating chunk
                    return
                if index:
                    time.sleep(reply.event_delay)
                if "response" not in event and "error" not in event:
                    event = {"response": event, "traceId": "fake-trace"}
                self._chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            with self.google._lock:
                self.google.disconnects.append(method)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
