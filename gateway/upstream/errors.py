"""What can go wrong upstream, classified once so the pool can decide what to do."""

from __future__ import annotations

import json
import re
import ssl
from datetime import datetime
from urllib.parse import urlsplit

import requests

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import RPC_STATUS, GatewayError
from . import answers

DEBUG_INFO = "type.googleapis.com/google.rpc.DebugInfo"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_RETRY_TEXT = re.compile(
    r"(?:retry in|reset after|retry after|try again in)\s+((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", re.IGNORECASE
)


class UpstreamError(GatewayError):
    """An upstream failure, carrying the Google error the client may finally see."""

    retry_elsewhere = True  # whether another account may succeed where this one failed

    def __init__(self, code: int, error: dict, retry_after: float | None = None) -> None:
        super().__init__(
            code,
            str(error.get("message") or f"Upstream answered HTTP {code}"),
            status=str(error.get("status") or RPC_STATUS.get(code, "UNKNOWN")),
            details=[d for d in error.get("details") or () if isinstance(d, dict) and d.get("@type") != DEBUG_INFO],
        )
        self.retry_after = retry_after
        self.reason = _error_info(error).get("reason", "")


class RateLimited(UpstreamError):
    """429: this account is out of quota or rate-limited for the model."""


class AuthFailed(UpstreamError):
    """401: the access token was refused."""


class Forbidden(UpstreamError):
    """403: the account may not use this (verification, licence, ToS)."""

    @property
    def link(self) -> str:
        for detail in self.details:
            for link in detail.get("links") or ():
                if link.get("url"):
                    return link["url"]
        return _error_info({"details": self.details}).get("metadata", {}).get("validation_link", "")


class Banned(Forbidden):
    """403 with an appeal link: Google disabled the account for its Terms of Service (upstream/answers.py)."""

    @property
    def appeal_url(self) -> str:
        return answers.appeal_url(self.message, self.details)


class BadRequest(UpstreamError):
    """4xx other than 401/403/429: the request itself is wrong; no other account would do better."""

    retry_elsewhere = False


class SessionFull(BadRequest):
    """400: the conversation's session on this account passed Cloud Code's input ceiling; a new one serves."""


class GeoBlocked(BadRequest):
    """400 FAILED_PRECONDITION for the egress's region: neither the request's fault nor the account's. Another
    account helps only through another egress (the relay decides); the client is told which settings choose it."""

    HINT = (
        " The gateway's egress (the IP address Google sees) is in a region Google does not serve: give accounts "
        "a proxy elsewhere with `gateway accounts set --proxy` (`gateway accounts set EMAIL --proxy URL`), or "
        "all of them with GATEWAY_UPSTREAM_PROXY."
    )

    def __init__(self, code: int, error: dict, retry_after: float | None = None) -> None:
        super().__init__(code, error, retry_after)
        self.message = self.message.rstrip() + self.HINT


class ServerFailed(UpstreamError):
    """5xx, 404 or 408 from every origin: worth another account."""


class TransportFailed(UpstreamError):
    """No answer at all: connection refused, reset or timed out on every origin."""

    def __init__(self, message: str, timeout: bool = False) -> None:
        code = 504 if timeout else 502
        super().__init__(code, {"message": message, "status": RPC_STATUS[code]})


class RouteFailed(UpstreamError):
    """The way to Google is broken for every account alike (the proxy is down or refuses, Google's certificate
    is not trusted): no account is benched and no other is tried; the client is told what to fix."""

    retry_elsewhere = False

    def __init__(self, message: str) -> None:
        super().__init__(503, {"message": message, "status": "UNAVAILABLE"})


class ProxyFailed(RouteFailed):
    """One egress's proxy is down or refuses (connect error, 407, tunnel refused): only the accounts behind it
    are cut off, so the account is not benched and the next one is tried. `proxy`: its host:port."""

    retry_elsewhere = True

    def __init__(self, message: str, proxy: str) -> None:
        super().__init__(message)
        self.proxy = proxy


def proxy_refused(proxy: str, status: int) -> ProxyFailed:
    """A proxy's own HTTP refusal of a forwarded call (407: its login was refused); Google never sends 407."""
    name = proxy_name(proxy)
    return ProxyFailed(f"The upstream proxy {name} failed: it answered HTTP {status}.", name)


class EmptyResponse(UpstreamError):
    """A 200 with no candidates and no content: Google's silent failure, treated as one."""

    def __init__(self) -> None:
        super().__init__(502, {"message": "Upstream returned an empty response.", "status": "UNAVAILABLE"})


def classify(
    status: int, text: str, retry_after_header: str | None = None, clock: Clock = SYSTEM_CLOCK
) -> UpstreamError:
    """The UpstreamError for a non-2xx answer; the body is unwrapped from the array streams use. `clock`: the
    caller's, for a reset given as a moment."""
    error = parse_error(text)
    if status in (429, 499):
        return RateLimited(429, error, retry_delay(error, retry_after_header, clock))
    kind = {401: AuthFailed, 403: Forbidden}.get(status)
    if kind is None:
        kind = ServerFailed if status >= 500 or status in (404, 408) else BadRequest
    kind = _meaning(status, error) or kind
    return kind(status, error, retry_delay(error, retry_after_header, clock))


def _meaning(status: int, error: dict) -> type[UpstreamError] | None:
    """The class of an answer upstream/answers.py knows to mean more than its status."""
    message = str(error.get("message") or "")
    if status == 403:
        details = [d for d in error.get("details") or () if isinstance(d, dict)]
        return Banned if answers.appeal_url(message, details) else None
    if status == 400 and answers.says(message, answers.SESSION_FULL):
        return SessionFull
    if status == 400 and error.get("status") == answers.GEO_BLOCK_STATUS and answers.says(message, answers.GEO_BLOCK):
        return GeoBlocked
    return None


def transport_failure(exc: requests.RequestException, url: str, proxy: str | None) -> UpstreamError:
    """The UpstreamError for a call to `url` (through `proxy`, if any) that got no HTTP answer."""
    cause = _innermost(exc)
    reason = re.sub(r"^\w+\(host=.*?\): ", "", str(cause)) or type(cause).__name__  # drop urllib3's conn repr
    hint = " If a private CA signs its certificate, name that CA's PEM file in GATEWAY_CA_BUNDLE."
    hint = hint if isinstance(cause, ssl.SSLError) else ""
    if isinstance(exc, requests.exceptions.ProxyError) and proxy:
        return ProxyFailed(f"The upstream proxy {proxy_name(proxy)} failed: {reason}.{hint}", proxy_name(proxy))
    if isinstance(exc, requests.exceptions.SSLError):
        return RouteFailed(f"TLS with {urlsplit(url).netloc} failed: {reason}.{hint}")
    if isinstance(exc, requests.Timeout):
        return TransportFailed("Upstream did not answer in time.", timeout=True)
    return TransportFailed(f"Upstream unreachable: {type(exc).__name__}.")


def proxy_name(url: str) -> str:
    """host:port of a proxy URL, never its credentials."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _innermost(exc: BaseException) -> BaseException:
    """The root cause in a requests/urllib3 exception chain: the part that says what happened."""
    while True:
        inner = getattr(exc, "reason", None)  # MaxRetryError and urllib3's ProxyError carry one
        if not isinstance(inner, BaseException) and exc.args and isinstance(exc.args[-1], BaseException):
            inner = exc.args[-1]
        if not isinstance(inner, BaseException) or inner is exc:
            return exc
        exc = inner


def parse_error(text: str) -> dict:
    """The `error` object of a Google error body, whatever wrapping it arrived in."""
    try:
        payload = json.loads(text)
    except ValueError:
        return {"message": text.strip()[:2000] or "Upstream returned no body."}
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return error
    if isinstance(error, str):  # OAuth style: {"error": "invalid_grant", "error_description": ...}
        return {"message": f"{error}: {payload.get('error_description', '')}".strip(": ")}
    return {"message": text.strip()[:2000]}


def retry_delay(error: dict, header: str | None = None, clock: Clock = SYSTEM_CLOCK) -> float | None:
    """Seconds until Google says to retry: RetryInfo, ErrorInfo metadata, message text, Retry-After."""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("retryDelay"):
            seconds = parse_duration(str(detail["retryDelay"]))
            if seconds is not None:
                return seconds
    metadata = _error_info(error).get("metadata") or {}
    if metadata.get("quotaResetDelay"):
        seconds = parse_duration(str(metadata["quotaResetDelay"]))
        if seconds is not None:
            return seconds
    if metadata.get("quotaResetTimeStamp"):
        try:
            reset = datetime.fromisoformat(str(metadata["quotaResetTimeStamp"]).replace("Z", "+00:00"))
            return max(0.0, reset.timestamp() - clock())
        except ValueError:
            pass
    match = _RETRY_TEXT.search(str(error.get("message", "")))
    if match:
        return parse_duration(match.group(1))
    if header and header.strip().isdigit():
        return float(header)
    return None


def parse_duration(text: str) -> float | None:
    """Seconds in a proto Duration or Go-style duration: "12s", "0.54s", "900ms", "1h16m0.667s"."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(number) * scale[unit] for number, unit in parts)


def _error_info(error: dict) -> dict:
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            return detail
    return {}
