"""A fake Google for tests: OAuth token + userinfo endpoints and the v1internal methods, on loopback.

A real HTTP server (threads, HTTP/1.1, chunked streams with real delays), scripted per test with `Reply`s
and recording every call, so tests can count what reached "Google" and from which account.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import os
import re
import socket
import ssl
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from gateway.upstream.identity import BUILT_IN_VERSION

MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-high")
SCOPE = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email"
INVALID_GRANT = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
# The OAuth clients Google knows here, id -> secret (public installed-app clients): Antigravity's, the gateway's
# default, and gemini-cli's. Google answers a wrong one 401 invalid_client, and a refresh token issued to
# another client 401 unauthorized_client (RFC 6749 section 5.2; see CLIENT_ERRORS in gateway/accounts/oauth.py).
ANTIGRAVITY_CLIENT = "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com"
GEMINI_CLI_CLIENT = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
OAUTH_CLIENTS = {
    ANTIGRAVITY_CLIENT: "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",
    GEMINI_CLI_CLIENT: "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",
}
CLIENT_FORM = {
    "client_id": ANTIGRAVITY_CLIENT,
    "client_secret": OAUTH_CLIENTS[ANTIGRAVITY_CLIENT],
}  # for tests' own calls
INVALID_CLIENT = {"error": "invalid_client", "error_description": "Unauthorized"}
UNAUTHORIZED_CLIENT = {"error": "unauthorized_client", "error_description": "Unauthorized"}


def iso_after(seconds: float) -> str:
    """A moment `seconds` from now as Google writes one (quota resets): never a calendar date a test outlives."""
    return datetime.fromtimestamp(time.time() + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def google_error(code: int, message: str, status: str) -> dict:
    """Google's error JSON."""
    return {"error": {"code": code, "message": message, "status": status}}


UNAUTHENTICATED = google_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    json: object = None  # a plain JSON body
    events: list | None = None  # a stream: each event wrapped as v1internal does, unless already wrapped
    delay: float = 0.0  # before the status line
    event_delay: float = 0.0  # before each event after the first
    delays: list | None = None  # delays[i] before event i (overrides event_delay)
    cut_after: int | None = None  # drop the connection after this many events, without ending the stream
    headers: dict = field(default_factory=dict)
    text: str | None = None  # a plain text body (the auto-updater manifest), sent in `text_pieces` when given
    text_pieces: int = 1  # chunks the text is sent in, `event_delay` apart (a manifest trickling in)


@dataclass
class Call:
    """One request the fake received."""

    method: str  # v1internal method, "token", "userinfo", "operation", or the path when unknown
    http_method: str
    path: str
    query: dict
    headers: dict
    body: object  # parsed JSON, or the form dict for "token"
    account: str | None  # email behind the bearer token presented, if valid (for "token": the refresh token's)
    base: str  # the origin that received it


@dataclass
class FakeAccount:
    """What the fake knows of one Google account."""

    email: str
    project: str
    tier: str
    onboarded: bool
    revoked: bool
    expires_in: int
    models: tuple[str, ...] | None = None  # None: lists MODELS and serves any model; else only these
    client: str = ANTIGRAVITY_CLIENT  # the OAuth client its refresh token was issued to


class FakeGoogle:
    """OAuth + Cloud Code Assist on one or more loopback origins sharing one state."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls  # serve https:// with this server context instead of plain http://
        self.scheme = "https" if tls else "http"
        self._lock = threading.Lock()
        self._servers: dict[str, tuple[ThreadingHTTPServer, threading.Thread]] = {}
        self._refused: set[str] = set()
        self.url = self.token_url = self.userinfo_url = ""
        self.reset()

    # ---- control, from tests ----

    def start(self) -> FakeGoogle:
        """Start the main origin."""
        self.url = self.add_origin()
        self.token_url = self.url + "/token"
        self.userinfo_url = self.url + "/oauth2/v2/userinfo"
        return self

    def add_origin(self, port: int = 0) -> str:
        """Start another listener sharing this fake's state (for base-URL fallback tests); return its origin."""
        handler = type("Handler", (_Handler,), {"google": self})
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        origin = f"{self.scheme}://127.0.0.1:{server.server_address[1]}"
        self._servers[origin] = (server, thread)
        return origin

    def fail_origin(self, origin: str, status: int | str | None = 503) -> None:
        """Make v1internal calls to `origin` answer `status`; None: close unanswered; "refuse": stop listening."""
        if status == "refuse":
            self._refused.add(origin)
            self._close(origin)
        else:
            self._failing[origin] = status

    def stop(self) -> None:
        """Stop every listener and wait for their threads."""
        for origin in list(self._servers):
            self._close(origin)
        self._refused = set()

    def reset(self) -> None:
        """Forget accounts, scripts, calls and origin failures (refused origins listen again)."""
        with self._lock:
            self.accounts: dict[str, FakeAccount] = {}  # by refresh token
            self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (email, expiry)
            self.scripts: defaultdict[tuple[str, str | None], deque[Reply]] = defaultdict(deque)
            self.calls: list[Call] = []
            self.disconnects: list[str] = []  # methods whose client left mid-stream
            self.operations: dict[str, list] = {}  # name -> [account, polls so far]
            self.codes: dict[str, str] = {}  # authorization code -> refresh token it grants
            self._counter = itertools.count(1)
            self._failing: dict[str, int | None] = {}
            self.client_gate: ClientGate | None = None  # Google's version gate on the User-Agent, when set
            self.signatures: set[str] = set()  # thought signatures the fake sent on functionCall parts
            # The Antigravity auto-updater: GET /manifest/<name> answers manifests[name], else MANIFEST.
            self.manifests: dict[str, Reply] = {}
            # Google's answers about the account or its egress (v1internal-rules.md §6), set by tests:
            self.banned: dict[str, str] = {}  # email -> appeal URL: a Terms of Service ban
            self.geo_blocked: set[str] = set()  # emails whose egress region Google refuses ("*": every one)
            self.session_ceiling: int | None = None  # input tokens one sessionId may accumulate (Google: 1048576)
            self.session_tokens: defaultdict[str, int] = defaultdict(int)
        for origin in self._refused:
            self.add_origin(int(origin.rsplit(":", 1)[1]))
        self._refused = set()

    def add_account(
        self,
        refresh_token: str,
        email: str,
        project: str = "proj-1",
        tier: str = "free-tier",
        onboarded: bool = True,
        revoked: bool = False,
        expires_in: int = 3600,
        models: tuple[str, ...] | None = None,
        client: str = ANTIGRAVITY_CLIENT,
    ) -> None:
        """Register an account whose refresh token the token endpoint accepts (`models`: all it serves), when
        asked by the OAuth `client` that it was issued to."""
        with self._lock:
            self.accounts[refresh_token] = FakeAccount(
                email, project, tier, onboarded, revoked, expires_in, models, client
            )

    def add_code(self, code: str, refresh_token: str) -> None:
        """An authorization code that the token endpoint exchanges for this account's refresh token."""
        with self._lock:
            self.codes[code] = refresh_token

    def script(self, method: str, *replies: Reply, account: str | None = None) -> None:
        """Queue replies for a v1internal method or "token", optionally only for calls made as `account`."""
        with self._lock:
            self.scripts[(method, account)].extend(replies)

    def calls_to(self, method: str, account: str | None = None) -> list[Call]:
        """The calls received for `method` (from `account`, if given), in order."""
        with self._lock:
            return [c for c in self.calls if c.method == method and account in (None, c.account)]

    # ---- behaviour, from the handler ----

    def _close(self, origin: str) -> None:
        server, thread = self._servers.pop(origin)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    def _record(self, call: Call) -> int:
        with self._lock:
            self.calls.append(call)
            return next(self._counter)

    def _scripted(self, method: str, account: str | None) -> Reply | None:
        with self._lock:
            for key in ((method, account), (method, None)):
                if self.scripts[key]:
                    return self.scripts[key].popleft()
        return None

    def _account_for(self, authorization: str) -> FakeAccount | None:
        with self._lock:
            email, expiry = self.tokens.get(authorization.removeprefix("Bearer "), ("", 0.0))
            if expiry <= time.time():
                return None
            return next((a for a in self.accounts.values() if a.email == email), None)

    def _token(self, form: dict, n: int) -> Reply:
        client = form.get("client_id", "")
        if client not in OAUTH_CLIENTS or OAUTH_CLIENTS[client] != form.get("client_secret"):
            return Reply(401, INVALID_CLIENT)
        with self._lock:
            if form.get("grant_type") == "authorization_code" and form.get("code_verifier"):
                refresh_token = self.codes.pop(form.get("code", ""), "")
            else:
                refresh_token = form.get("refresh_token", "") if form.get("grant_type") == "refresh_token" else ""
            account = self.accounts.get(refresh_token)
            if account is None or account.revoked:
                return Reply(400, INVALID_GRANT)
            if account.client != client:
                return Reply(401, UNAUTHORIZED_CLIENT)
            token = f"ya29.fake-{account.email}-{n}"
            self.tokens[token] = (account.email, time.time() + account.expires_in)
        body = {"access_token": token, "expires_in": account.expires_in, "token_type": "Bearer", "scope": SCOPE}
        if form["grant_type"] == "authorization_code":
            body["refresh_token"] = refresh_token
        return Reply(json=body)

    def _default(self, method: str, account: FakeAccount, body: dict, n: int) -> Reply:
        if method == "userinfo":
            return Reply(json={"email": account.email, "verified_email": True, "name": account.email.split("@")[0]})
        if method == "loadCodeAssist":
            tiers = [{"id": "free-tier", "isDefault": True, "userDefinedCloudaicompanionProject": False}]
            if not account.onboarded:
                return Reply(json={"allowedTiers": tiers})
            current = {"id": account.tier, "name": account.tier}
            return Reply(
                json={"currentTier": current, "allowedTiers": tiers, "cloudaicompanionProject": account.project}
            )
        if method == "onboardUser":
            name = f"operations/onboard-{n}"
            with self._lock:
                self.operations[name] = [account, 0]
            return Reply(json={"name": name, "done": False})
        if method == "fetchAvailableModels":
            quota = {"remainingFraction": 1.0, "resetTime": iso_after(86400)}
            info = {"maxTokens": 1048576, "maxOutputTokens": 65535, "quotaInfo": quota}
            models = account.models or MODELS
            return Reply(json={"models": {m: {"displayName": m.replace("-", " ").title(), **info} for m in models}})
        model = body.get("model") or str((body.get("request") or {}).get("model", "")).removeprefix("models/")
        if account.models is not None and model not in account.models:  # as Google answers a model not entitled
            return Reply(404, google_error(404, "Requested entity was not found.", "NOT_FOUND"))
        if method == "countTokens":
            contents = (body.get("request") or {}).get("contents") or []
            words = sum(len(str(p.get("text", "")).split()) for c in contents for p in c.get("parts") or ())
            return Reply(json={"totalTokens": words})
        usage = {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}
        if method == "streamGenerateContent":
            first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}
            return Reply(events=[first, {"candidates": [_candidate("lo")], "usageMetadata": usage}])
        if method == "generateContent":
            response = {"candidates": [_candidate("Hello")], "usageMetadata": usage}
            return Reply(json=wrap(response, body.get("model", ""), n))
        return Reply(404, google_error(404, f"Method {method} not found.", "NOT_FOUND"))

    def _poll(self, name: str) -> Reply:
        with self._lock:
            account, polls = self.operations.get(name, (None, 0))
            if account is None:
                return Reply(404, google_error(404, f"Operation {name} not found.", "NOT_FOUND"))
            self.operations[name][1] += 1
            if polls == 0:
                return Reply(json={"name": name, "done": False})
            account.onboarded = True
        project = {"id": account.project, "name": account.project}
        return Reply(json={"name": name, "done": True, "response": {"cloudaicompanionProject": project}})


def manifest(version: str) -> str:
    """An electron-builder update manifest as the Antigravity hub's auto-updater serves it."""
    return (
        f"version: {version}\nfiles:\n  - url: Antigravity-{version}-arm64-mac.zip\n    sha512: c2hh\n"
        f"    size: 214748364\npath: Antigravity-{version}-arm64-mac.zip\nsha512: c2hh\n"
    )


# What /manifest/<name> answers unless a test scripts it: the gateway's built-in release, so a gateway that
# reads it sends what tests of other parts expect.
MANIFEST = Reply(text=manifest(BUILT_IN_VERSION))


def _candidate(text: str) -> dict:
    return {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}


def wrap(event: dict, model: str, n: int) -> dict:
    """Wrap a GenerateContentResponse as v1internal does, unless it already is wrapped (or an error)."""
    if "response" in event or "error" in event:
        return event
    return {"response": {"modelVersion": model, "responseId": f"resp-{n}", **event}, "traceId": f"t{n}"}


class _Handler(BaseHTTPRequestHandler):
    google: FakeGoogle
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        if self.google.tls:  # the handshake runs here, in the connection's thread, not in the accept loop
            self.request = self.google.tls.wrap_socket(self.request, server_side=True)
        super().setup()
        # Events are small writes: without this, Nagle + delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError):  # a client closing a kept-alive connection it abandoned
            super().handle()

    def do_POST(self) -> None:
        google, url = self.google, urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        v1internal = url.path.startswith("/v1internal")
        if url.path == "/token":
            method, body = "token", {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            method = {"/oauth2/v2/userinfo": "userinfo"}.get(url.path, url.path)
            if url.path.startswith("/v1internal/operations/"):
                method = "operation"
            elif url.path.startswith("/v1internal:"):
                method = url.path.removeprefix("/v1internal:")
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
        account = google._account_for(self.headers.get("Authorization", ""))
        email = account.email if account else None
        if method == "token":  # no bearer here: the account is the refresh token's owner
            email = getattr(google.accounts.get(body.get("refresh_token", "")), "email", None)
        origin = f"{google.scheme}://127.0.0.1:{self.server.server_address[1]}"
        call = Call(method, self.command, url.path, parse_qs(url.query), dict(self.headers), body, email, origin)
        n = google._record(call)
        self.model = body.get("model", "") if isinstance(body, dict) else ""
        if url.path.startswith("/manifest/"):  # the auto-updater: no credentials, plain YAML
            return self._send(google.manifests.get(url.path.removeprefix("/manifest/"), MANIFEST), method, n)
        if v1internal and origin in google._failing:
            status = google._failing[origin]
            if status is None:
                return self._drop()
            return self._send(Reply(status, google_error(status, "origin down", "UNAVAILABLE")), method, n)
        if method not in ("token", "userinfo") and not v1internal:
            reply = Reply(404, google_error(404, f"{url.path} not found.", "NOT_FOUND"))
        elif method != "token" and account is None:
            reply = Reply(401, UNAUTHENTICATED)
        elif method in GENERATE_METHODS and (refusal := schema_errors(body)):  # parsing comes first at Google
            reply = Reply(400, google_error(400, refusal, "INVALID_ARGUMENT"))
        elif refusal := (
            account_refusal(google, call)  # the account or its egress, before what it asks
            or strict_refusal(google, call)
            or refused_signature(google, method, body)
            or session_refusal(google, call)  # counts the input of what Google takes: last
        ):
            reply = refusal
        else:
            reply = google._scripted(method, email)
        if reply is None and method == "token":
            reply = google._token(body, n)
        elif reply is None and method == "operation":
            reply = google._poll(url.path.removeprefix("/v1internal/"))
        elif reply is None:
            reply = google._default(method, account, body if isinstance(body, dict) else {}, n)
        self._send(reply, method, n)

    do_GET = do_POST

    def _send(self, reply: Reply, method: str, n: int) -> None:
        time.sleep(reply.delay)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.text is not None:
                return self._send_text(reply)
            if reply.events is None:
                body = reply.json if reply.json is not None else {}
                payload = json.dumps(signed(self.google, body, self.model)).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = reply.events if reply.cut_after is None else reply.events[: reply.cut_after]
            for index, event in enumerate(events):
                if reply.delays is not None:
                    time.sleep(reply.delays[index] if index < len(reply.delays) else 0)
                elif index:
                    time.sleep(reply.event_delay)
                data = json.dumps(wrap(signed(self.google, event, self.model), self.model, n), separators=(",", ":"))
                self._chunk(f"data: {data}\n\n".encode())
            if reply.cut_after is not None:
                return self._drop()  # mid-stream: no terminating chunk
            self._chunk(b"")
        except OSError:  # the client left: BrokenPipe, ConnectionReset
            self.close_connection = True
            with self.google._lock:
                self.google.disconnects.append(method)

    def _send_text(self, reply: Reply) -> None:
        payload = reply.text.encode()
        self.send_header("Content-Type", "text/yaml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        size = -(-len(payload) // reply.text_pieces)
        for start in range(0, len(payload), size):
            time.sleep(reply.event_delay if start else 0)
            self.wfile.write(payload[start : start + size])
            self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


# ---- strict like Google: what the real v1internal refuses (shared/reference/v1internal-rules.md §3-§5) ----
# Each check reads a generate call's model and request and returns Google's refusal, or None.

GENERATE_METHODS = ("streamGenerateContent", "generateContent")
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass
class ClientGate:
    """Google's version gate, off unless a test sets `FakeGoogle.client_gate`: User-Agents below `oldest` are
    refused with `status`; `newer_models` answer 404 to clients below `models_from` (CLIProxyAPI a834917e8)."""

    oldest: str = "0"
    status: int = 400
    newer_models: tuple[str, ...] = ()
    models_from: str = "0"


def _version(text: str) -> tuple[int, ...]:
    found = _VERSION.search(text)
    return tuple(int(n or 0) for n in found.groups()) if found else (0,)


def _parts(request: dict):
    """(content index, part index, role, part) over the conversation."""
    for i, content in enumerate(request.get("contents") or ()):
        for j, part in enumerate(content.get("parts") or ()):
            yield i, j, content.get("role"), part


def _claude_refusal(text: str) -> Reply:
    """Claude's own error, wrapped as Cloud Code relays it (googlecodelabs/feedback #1807)."""
    claude = {"type": "error", "error": {"type": "invalid_request_error", "message": text}}
    return Reply(400, google_error(400, json.dumps(claude), "INVALID_ARGUMENT"))


def check_client_version(gate: ClientGate | None, headers: dict, model: str) -> Reply | None:
    if gate is None:
        return None
    version = _version(headers.get("User-Agent", ""))
    if version < _version(gate.oldest):
        message = "This version of Antigravity is no longer supported. Please update to receive the latest features!"
        return Reply(gate.status, google_error(gate.status, message, "FAILED_PRECONDITION"))
    if model in gate.newer_models and version < _version(gate.models_from):
        return Reply(404, google_error(404, "Requested entity was not found.", "NOT_FOUND"))
    return None


def check_claude_tool_ids(model: str, request: dict) -> Reply | None:
    """opencode #8675: `messages.1.content.1.tool_use.id: Field required`; results must answer the calls
    of the turn before (Anthropic's own texts)."""
    if not model.startswith("claude-"):
        return None
    called, previous = set(), set()
    last_turn = -1
    for i, j, _role, part in _parts(request):
        if i != last_turn:
            previous, called, last_turn = called, set(), i
        call, response = _member(part, "functionCall"), _member(part, "functionResponse")
        if isinstance(call, dict):
            if not call.get("id"):
                return _claude_refusal(f"messages.{i}.content.{j}.tool_use.id: Field required")
            called.add(call["id"])
        if isinstance(response, dict):
            if not response.get("id"):
                return _claude_refusal(f"messages.{i}.content.{j}.tool_result.tool_use_id: Field required")
            if response["id"] not in previous:
                return _claude_refusal(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{response['id']}. Each `tool_result` block must have a corresponding `tool_use` block in "
                    "the previous message."
                )
    return None


def check_claude_prefill(model: str, request: dict) -> Reply | None:
    contents = request.get("contents") or []
    if model.startswith("claude-") and contents and contents[-1].get("role") == "model":
        return _claude_refusal(
            "This model does not support assistant message prefill. The conversation must end with a user message."
        )
    return None


def check_thinking(model: str, request: dict) -> Reply | None:
    """thinkingLevel only on Gemini 3+ ids that do not fix the level (Antigravity-Manager #2208, Roo-Code
    #10700); Claude needs max_tokens above the thinking budget."""
    config = _member(request, "generationConfig") or {}
    thinking = _member(config, "thinkingConfig") or {}
    level = _member(thinking, "thinkingLevel")
    generation = re.match(r"gemini-(\d+)", model)
    if level is not None and (model.startswith("claude-") or (generation and int(generation.group(1)) < 3)):
        return Reply(400, google_error(400, "Thinking level is not supported for this model.", "INVALID_ARGUMENT"))
    if level is not None and generation and int(generation.group(1)) == 3 and model.endswith(("-high", "-low")):
        message = f"Thinking level {str(level).upper()} is not supported for this model."
        return Reply(400, google_error(400, message, "INVALID_ARGUMENT"))
    budget, limit = _member(thinking, "thinkingBudget"), _member(config, "maxOutputTokens")
    if model.startswith("claude-") and budget and limit is not None and limit <= budget:
        return _claude_refusal("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if re.match(r"gemini-3(\.\d+)?-flash", model) and isinstance(budget, int) and budget > 24576:
        return _invalid(f"The thinking budget {budget} is invalid. Please choose a value between 0 and 24576.")
    return None


def check_gemini_4(model: str, request: dict) -> Reply | None:
    """Gemini 4 and later take thinking by level only; Neon also refuses MINIMAL, the penalties and more than one
    candidate, and XHIGH is Neon's own level (v1internal-rules.md §6)."""
    generation = re.match(r"gemini-(\d+)", model)
    config = _member(request, "generationConfig") or {}
    thinking = _member(config, "thinkingConfig") or {}
    level = str(_member(thinking, "thinkingLevel") or "").upper().removeprefix("THINKING_LEVEL_")
    neon = model.startswith("gemini-4-neon")
    if generation and int(generation.group(1)) >= 4 and _member(thinking, "thinkingBudget") is not None:
        return _invalid("thinking_budget is not supported for this model. Use thinking_level instead.")
    if level == "XHIGH" and not neon:
        return _invalid("Thinking level XHIGH is not supported for this model.")
    if not neon:
        return None
    if level == "MINIMAL":
        return _invalid("Thinking level MINIMAL is not supported for this model.")
    for name in ("frequencyPenalty", "presencePenalty"):
        if _member(config, name) is not None:
            return _invalid(f"{_snake_name(name)} is not supported for this model.")
    count = _member(config, "candidateCount")
    if isinstance(count, int) and count > 1:
        return _invalid("candidate_count > 1 is not supported for this model.")
    return None


def check_safety_categories(model: str, request: dict) -> Reply | None:
    """v1internal knows no HARM_CATEGORY_CIVIC_INTEGRITY, even at OFF (v1internal-rules.md §6)."""
    for i, setting in enumerate(_listed(request, "safetySettings")):
        category = setting.get("category") if isinstance(setting, dict) else None
        if category == "HARM_CATEGORY_CIVIC_INTEGRITY":
            return _invalid(
                f"Invalid value at 'request.safety_settings[{i}].category' "
                f'(type.googleapis.com/google.ai.generativelanguage.v1beta.HarmCategory), "{category}"'
            )
    return None


def _invalid(message: str) -> Reply:
    return Reply(400, google_error(400, message, "INVALID_ARGUMENT"))


def check_search_with_functions(model: str, request: dict) -> Reply | None:
    tools = request.get("tools") or []
    search = any(
        _member(t, "googleSearch") is not None or _member(t, "googleSearchRetrieval") is not None for t in tools
    )
    if search and any(_member(t, "functionDeclarations") for t in tools):
        message = "Multiple tools are supported only when they are all search tools."
        return Reply(400, google_error(400, message, "INVALID_ARGUMENT"))
    return None


def check_leading_user_turn(model: str, request: dict) -> Reply | None:
    contents = request.get("contents") or []
    if not model.startswith("claude-") and contents and contents[0].get("role") == "model":
        message = "Please ensure that multiturn requests alternate between user and model."
        return Reply(400, google_error(400, message, "INVALID_ARGUMENT"))
    return None


def check_media(model: str, request: dict) -> Reply | None:
    """What Google's proto parser refuses in media parts: inlineData without a mime type or whose data is not
    base64 (bytes in proto3 JSON: standard or URL-safe alphabet, padding optional), and fileData naming a Files
    API file, which Cloud Code Assist has no way to fetch (it has no Files API: issue 30)."""
    for i, j, _, part in _parts(request):
        where = f"contents[{i}].parts[{j}]"
        inline = _member(part, "inlineData")
        if isinstance(inline, dict):
            if not _member(inline, "mimeType"):
                return _invalid(f"Invalid value at '{where}.inline_data.mime_type': a mime type is required.")
            data = str(_member(inline, "data") or "").replace("-", "+").replace("_", "/")
            try:
                base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
            except ValueError:
                return _invalid(f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed")
        file_data = _member(part, "fileData")
        if isinstance(file_data, dict) and "/files/" in f"/{_member(file_data, 'fileUri') or ''}":
            return _invalid(f"Unsupported file uri: {_member(file_data, 'fileUri')} ({where}.file_data)")
    return None


GENERATE_CHECKS = (
    check_media,
    check_claude_tool_ids,
    check_claude_prefill,
    check_thinking,
    check_gemini_4,
    check_safety_categories,
    check_search_with_functions,
    check_leading_user_turn,
)


BAN_MESSAGE = (
    "This service has been disabled in this account for violation of Terms of Service. "
    "Please submit an appeal to continue using this product."
)
GEO_BLOCK_MESSAGE = "User location is not supported for the API use."


def account_refusal(google: FakeGoogle, call: Call) -> Reply | None:
    """A banned account's 403 with its appeal link (automazeio/vibeproxy #335), or the geo-block of its egress
    (Gemini models only: CLIProxyAPI #3999)."""
    if call.method not in (*GENERATE_METHODS, "countTokens"):
        return None
    if call.account in google.banned:
        error = google_error(403, BAN_MESSAGE, "PERMISSION_DENIED")
        error["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "TOS_VIOLATION",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {"appeal_url": google.banned[call.account]},
            }
        ]
        return Reply(403, error)
    body = call.body if isinstance(call.body, dict) else {}
    model = str(body.get("model") or (body.get("request") or {}).get("model", "")).removeprefix("models/")
    if model.startswith("gemini-") and google.geo_blocked & {call.account, "*"}:
        return Reply(400, google_error(400, GEO_BLOCK_MESSAGE, "FAILED_PRECONDITION"))
    return None


def session_refusal(google: FakeGoogle, call: Call) -> Reply | None:
    """Cloud Code adds up the input of each request.sessionId; past the ceiling every request of that session is
    refused (Antigravity-Manager #3411). Input counted as words of text, as the fake's countTokens does."""
    if google.session_ceiling is None or call.method not in GENERATE_METHODS:
        return None
    request = call.body.get("request") or {}
    words = sum(len(str(part.get("text", "")).split()) for _, _, _, part in _parts(request))
    with google._lock:
        session = str(request.get("sessionId"))
        if google.session_tokens[session] + words > google.session_ceiling:
            message = f"The input token count exceeds the maximum number of tokens allowed {google.session_ceiling}."
            return Reply(400, google_error(400, message, "INVALID_ARGUMENT"))
        google.session_tokens[session] += words
    return None


def strict_refusal(google: FakeGoogle, call: Call) -> Reply | None:
    """Google's refusal of this call, or None when Google would take it."""
    body = call.body if isinstance(call.body, dict) else {}
    model = str(body.get("model", ""))
    if call.method not in (*GENERATE_METHODS, "countTokens", "loadCodeAssist", "onboardUser", "fetchAvailableModels"):
        return None
    refusal = check_client_version(google.client_gate, call.headers, model)
    request = body.get("request") if isinstance(body.get("request"), dict) else {}
    if refusal is None and call.method == "countTokens":
        return check_media(model, request)  # its contents are parsed as a generate call's are
    if refusal is not None or call.method not in GENERATE_METHODS:
        return refusal
    return next((r for check in GENERATE_CHECKS if (r := check(model, request)) is not None), None)


# ---- schemas, parsed as strictly as Google does (shared/reference/v1internal-rules.md §1) ----

SCHEMA_FIELDS = frozenset(
    {
        *("type", "format", "title", "description", "nullable", "enum", "items", "properties", "required"),
        *("anyOf", "minItems", "maxItems", "minimum", "maximum"),
    }
)
SCHEMA_TYPES = ("TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL")  # by number
SCHEMA_PROTO = "type.googleapis.com/google.ai.generativelanguage.v1beta.Schema"
TYPE_PROTO = "type.googleapis.com/google.ai.generativelanguage.v1beta.Type"
# (proto field, the JSON Schema twin Google refuses beside it): both are schema positions
DECLARATION_SCHEMAS = (("parameters", "parametersJsonSchema"), ("response", "responseJsonSchema"))
CONFIG_SCHEMAS = (("responseSchema", "responseJsonSchema"),)


def schema_errors(envelope: object) -> str | None:
    """Google's 400 message for the first schema a v1internal generate call carries that it refuses, else None.

    Every schema position is read as the proto `Schema`, JSON Schema twins included: the reference marks anything
    outside the allow-list unsafe on the Antigravity path.
    """
    request = envelope.get("request") if isinstance(envelope, dict) else None
    if not isinstance(request, dict):
        return None
    claude, tool_index = str(envelope.get("model", "")).startswith("claude-"), 0
    for t, tool in enumerate(_listed(request, "tools")):
        for d, declaration in enumerate(_listed(tool, "functionDeclarations")):
            if claude and _member(declaration, "parametersJsonSchema") is not None:
                return f"tools.{tool_index}.custom.input_schema: Field required"  # Claude reads `parameters` only
            tool_index += 1
            where = f"request.tools[{t}].function_declarations[{d}]"
            if error := _schema_pair_errors(declaration, where, DECLARATION_SCHEMAS):
                return error
    config = _member(request, "generationConfig")
    return (
        _schema_pair_errors(config, "request.generation_config", CONFIG_SCHEMAS) if isinstance(config, dict) else None
    )


def _schema_pair_errors(holder: dict, where: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
    for proto, json_schema in pairs:
        if _member(holder, proto) is not None and _member(holder, json_schema) is not None:
            return f"{_snake_name(json_schema)} must not be set when {_snake_name(proto)} is set"
        for name in (proto, json_schema):
            if error := _schema_error(_member(holder, name), f"{where}.{_snake_name(name)}"):
                return error
    return None


def _schema_error(schema: object, path: str) -> str | None:
    """The proto JSON parser's complaint about one Schema value (and everything under it), else None."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        return f"Invalid value at '{path}' ({SCHEMA_PROTO}), {json.dumps(schema)}"
    for key, value in schema.items():
        name = _camel_name(key)
        where = f"{path}.{_snake_name(name)}"
        if name not in SCHEMA_FIELDS:
            return f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find field."
        if name == "type" and not _schema_type(value):
            return f"Invalid value at '{where}' ({TYPE_PROTO}), {json.dumps(value)}"
        if name == "enum" and (error := _enum_error(value, where)):
            return error
        children = []
        if name == "properties" and isinstance(value, dict):  # a map: Google numbers its entries
            children = [(sub, f"{path}.properties[{i}].value") for i, sub in enumerate(value.values())]
        elif name == "anyOf" and isinstance(value, list):
            children = [(sub, f"{where}[{i}]") for i, sub in enumerate(value)]
        elif name == "items":
            children = [(value, where)]
        for sub, sub_path in children:
            if error := _schema_error(sub, sub_path):
                return error
    return None


def _enum_error(values: object, path: str) -> str | None:
    """The proto's `enum` is `repeated string`: a number in it is refused."""
    for index, value in enumerate(values if isinstance(values, list) else [values]):
        if not isinstance(value, str):
            return f"Invalid value at '{path}[{index}]' (TYPE_STRING), {json.dumps(value)}"
    return None


def _schema_type(value: object) -> bool:
    """A Type enum value: its name (the SDKs send "STRING" and "string"; both are accepted) or its number."""
    if isinstance(value, str):
        return value.upper() in SCHEMA_TYPES
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(SCHEMA_TYPES)


def _member(holder: object, camel: str) -> object:
    """A member by its proto JSON name or its proto field name, as Google's parser accepts both."""
    return holder.get(camel, holder.get(_snake_name(camel))) if isinstance(holder, dict) else None


def _listed(holder: object, camel: str) -> list:
    value = _member(holder, camel)
    return value if isinstance(value, list) else []


def _snake_name(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _camel_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


# ---- thought signatures: Gemini 3 signs each functionCall it returns and validates the history's ----

# What Google accepts in place of a lost signature (CLIProxyAPI internal/signature/gemini_validation.go).
SIGNATURE_SENTINELS = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})


def answer(*parts: dict) -> Reply:
    """A scripted reply: one finished model turn of these parts."""
    return Reply(
        events=[{"candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": "STOP"}]}]
    )


def function_call(name: str, args: dict) -> dict:
    """An answer that calls one function; the fake signs it when the model is a Gemini 3 one."""
    part = {"functionCall": {"name": name, "args": args}}
    return {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}]}


def _signs(model: str) -> bool:
    return model.startswith("gemini-3")


def signed(google: FakeGoogle, payload: object, model: str) -> object:
    """The payload with a fresh random signature on each unsigned functionCall part, if the model signs."""
    if not _signs(model) or not isinstance(payload, dict):
        return payload
    payload = copy.deepcopy(payload)  # a scripted Reply may be sent again
    answer = payload.get("response", payload)
    for candidate in answer.get("candidates") or () if isinstance(answer, dict) else ():
        for part in (candidate.get("content") or {}).get("parts") or ():
            if "functionCall" in part:
                part.setdefault("thoughtSignature", base64.b64encode(os.urandom(48)).decode())
                with google._lock:
                    google.signatures.add(normalised_signature(part["thoughtSignature"]))
    return payload


def normalised_signature(signature: object) -> str:
    """A signature as Google reads it: proto JSON takes both base64 alphabets, padded or not (google-genai
    sends back the URL-safe one)."""
    return str(signature).replace("-", "+").replace("_", "/").rstrip("=")


def refused_signature(google: FakeGoogle, method: str, body: object) -> Reply | None:
    """Google's 400 for a history functionCall whose signature is missing (first call of a model turn) or
    not one this fake issued (any call), on models that sign; None when the history passes."""
    if method not in ("generateContent", "streamGenerateContent") or not isinstance(body, dict):
        return None
    if not _signs(str(body.get("model", ""))):
        return None
    with google._lock:
        issued = set(google.signatures)
    for position, content in enumerate((body.get("request") or {}).get("contents") or (), start=1):
        if content.get("role") != "model":
            continue
        calls = [part for part in content.get("parts") or () if {"functionCall", "function_call"} & part.keys()]
        for index, part in enumerate(calls):
            signature = part.get("thoughtSignature") or part.get("thought_signature")
            if not signature and index == 0:
                name = (part.get("functionCall") or part.get("function_call")).get("name", "")
                message = (
                    "Function call is missing a thought_signature in functionCall parts. This is required for "
                    "tools to work correctly, and missing thought_signature may lead to degraded model "
                    f"performance. Additional data, function call `default_api:{name}` , position {position}. "
                    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )
                return Reply(400, google_error(400, message, "INVALID_ARGUMENT"))
            if signature and signature not in SIGNATURE_SENTINELS and normalised_signature(signature) not in issued:
                return Reply(400, google_error(400, "Corrupted thought signature.", "INVALID_ARGUMENT"))
    return None
