"""Google OAuth: exchange a refresh token for an access token, look up an account's email."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

from ..clock import SYSTEM_CLOCK, Clock
from ..config import Settings, bypasses_proxy
from ..upstream.errors import RouteFailed, proxy_refused, transport_failure

TIMEOUT = (10, 30)
CLIENT_VARIABLES = "GATEWAY_OAUTH_CLIENT_ID and GATEWAY_OAUTH_CLIENT_SECRET"
# What the token endpoint's client errors (RFC 6749 section 5.2) mean to an operator. Evidence: a wrong secret
# or unknown client id answers 401 invalid_client "Unauthorized" (insanum/gcalcli#814); a refresh token issued
# to another client answers unauthorized_client (prasmussen/gdrive#375: fixed by that token's own client).
CLIENT_ERRORS = {
    "invalid_client": f"Google does not accept the OAuth client; check {CLIENT_VARIABLES}",
    "unauthorized_client": (
        "the token was issued to another OAuth client (gemini-cli's oauth_creds.json: gemini-cli's client); "
        f"set {CLIENT_VARIABLES} to that client's"
    ),
}


class OAuthError(Exception):
    """The token endpoint could not give an access token."""


class RouteBroken(OAuthError):
    """Google's OAuth endpoints are out of reach for every account alike (proxy, TLS): `failure` says why."""

    def __init__(self, failure: RouteFailed) -> None:
        super().__init__(failure.message)
        self.failure = failure


class InvalidGrant(OAuthError):
    """The refresh token is revoked or expired: the account is dead until the user logs in again."""


@dataclass(frozen=True)
class Grant:
    access_token: str = field(repr=False)
    expires_at: float


class OAuth:
    def __init__(
        self,
        settings: Settings,
        session: requests.Session,
        clock: Clock = SYSTEM_CLOCK,
        routing: dict[str, str] | None = None,
    ) -> None:
        """`routing`: the proxies of one account's egress ({} direct); None: the settings' (GATEWAY_UPSTREAM_PROXY)."""
        self.settings = settings
        self.session = session
        self.clock = clock
        self.routing = routing

    def _proxies(self, url: str) -> dict:
        if self.routing is not None:
            return dict(self.routing)
        return {} if bypasses_proxy(url, self.settings.no_proxy) else dict(self.settings.upstream_proxies)

    def _unreachable(self, exc: requests.RequestException, url: str, what: str) -> OAuthError:
        failure = transport_failure(exc, url, self._proxies(url).get(url.partition(":")[0]))
        if isinstance(failure, RouteFailed):
            return RouteBroken(failure)
        return OAuthError(f"{what} ({type(exc).__name__})")

    def refresh(self, refresh_token: str) -> Grant:
        """A fresh access token, or InvalidGrant / OAuthError (the message never holds the token)."""
        payload = self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})
        return Grant(payload["access_token"], self.clock() + float(payload.get("expires_in", 3600)))

    def exchange_code(self, code: str, redirect_uri: str, verifier: str) -> str:
        """The refresh token granted for an authorization code (installed-app flow with PKCE)."""
        payload = self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
        )
        if not payload.get("refresh_token"):
            raise OAuthError("Google granted no refresh token; revoke the app's access and log in again")
        return str(payload["refresh_token"])

    def _token(self, form: dict) -> dict:
        url = self.settings.oauth_token_url
        form = {**form, "client_id": self.settings.oauth_client_id, "client_secret": self.settings.oauth_client_secret}
        try:
            response = self.session.post(url, data=form, timeout=TIMEOUT, proxies=self._proxies(url))
        except requests.RequestException as exc:
            raise self._unreachable(exc, url, "token endpoint unreachable") from None
        proxy = self._proxies(url).get(url.partition(":")[0])
        if response.status_code == 407 and proxy:
            raise RouteBroken(proxy_refused(proxy, 407))
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if response.ok and payload.get("access_token"):
            return payload
        error = str(payload.get("error") or f"HTTP {response.status_code}")
        message = f"{error}: {payload.get('error_description', '')}".strip(": ")
        if error == "invalid_grant":
            raise InvalidGrant(message)
        hint = CLIENT_ERRORS.get(error)
        raise OAuthError(f"token request failed ({message})" + (f": {hint}" if hint else ""))

    def email(self, access_token: str) -> str:
        """The account's email address, from the userinfo endpoint."""
        url = self.settings.oauth_userinfo_url
        try:
            response = self.session.get(
                url,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=TIMEOUT,
                proxies=self._proxies(url),
            )
            response.raise_for_status()
            return str(response.json()["email"])
        except requests.RequestException as exc:
            raise self._unreachable(exc, url, "could not read the account's email") from None
        except (ValueError, KeyError) as exc:
            raise OAuthError(f"could not read the account's email ({type(exc).__name__})") from None
