"""Google's gate on the client version (the User-Agent): no account's fault, the operator's to fix.

Google answers "This version of Antigravity is no longer supported. Please update…" (any status; 1.11.5 was
refused on 2026-01-29, Antigravity-Manager #1318) and newer models answer `404 Requested entity was not found`
to clients below 2.9.0 (CLIProxyAPI a834917e8). Benching accounts for it would empty the pool for nothing:
the client gets a 503 that names GATEWAY_USER_AGENT, and the log says so once a minute.
"""

from __future__ import annotations

import logging
import re
import time

from .errors import UpstreamError
from .identity import BUILT_IN_USER_AGENT

log = logging.getLogger(__name__)

REFUSAL = re.compile(r"version of Antigravity is (?:no longer supported|out of date)", re.IGNORECASE)
NOT_FOUND = "Requested entity was not found"
NEWER_MODELS_FROM = (2, 9, 0)
LOG_EVERY = 60.0  # seconds between two log lines about it, per worker
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_last_logged = [float("-inf")]


class ClientOutdated(UpstreamError):
    """Google refuses the gateway's User-Agent as too old."""

    retry_elsewhere = False  # every account would get the same answer

    def __init__(self, user_agent: str, answer: str) -> None:
        example = (
            "the built-in one is outdated too" if user_agent == BUILT_IN_USER_AGENT else f"e.g. {BUILT_IN_USER_AGENT!r}"
        )
        message = (
            f"Google refuses this gateway's client version (User-Agent {user_agent!r}): {answer} "
            "Set GATEWAY_USER_AGENT to the current Antigravity release (shaped antigravity/hub/<version> "
            f"darwin/arm64; {example}), or leave it `auto` (the default) to read the release from "
            "GATEWAY_CLIENT_MANIFEST_URL every 6 hours, and restart."
        )
        super().__init__(503, {"message": message, "status": "UNAVAILABLE"})


def gate(error: UpstreamError, user_agent: str) -> UpstreamError:
    """ClientOutdated when `error` is Google's version gate (logged, at most once a minute), else `error`."""
    refused = REFUSAL.search(error.message)
    too_old_for_model = error.code == 404 and NOT_FOUND in error.message and version(user_agent) < NEWER_MODELS_FROM
    if not (refused or too_old_for_model):
        return error
    outdated = ClientOutdated(user_agent, error.message.strip())
    now = time.monotonic()
    if now - _last_logged[0] >= LOG_EVERY:
        _last_logged[0] = now
        log.error("%s", outdated.message)
    return outdated


def version(user_agent: str) -> tuple[int, ...]:
    """The version in a User-Agent (`antigravity/hub/2.9.1 darwin/arm64` → (2, 9, 1)); (0,) when none."""
    found = _VERSION.search(user_agent)
    return tuple(int(n or 0) for n in found.groups()) if found else (0,)
