"""Sends v1internal calls: one pooled session per worker, origins tried in order."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from ..config import Settings, bypasses_proxy
from ..errors import dumps
from .errors import TransportFailed, UpstreamError, classify

CONNECT_TIMEOUT = 10
# Longest silence tolerated between two bytes of an answer (thinking models can pause for minutes);
# there is deliberately no cap on a whole stream.
READ_TIMEOUT = 300
# Past this many idle connections per origin a worker closes extras instead of keeping them.
POOL_SIZE = 256


def new_session() -> requests.Session:
    """A session that never consults the environment per call (trust_env costs ~40% of a relay's CPU)."""
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class UpstreamClient:
    """POSTs to `<origin>/v1internal:<method>`, falling back to the next origin on outages."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.session = session or new_session()
        self.origins = settings.upstream_urls
        proxies = {
            origin: {} if bypasses_proxy(origin, settings.no_proxy) else dict(settings.upstream_proxies)
            for origin in self.origins
        }
        # The usual case, one proxy setting for every origin, lives on the session: requests then skips
        # merging a per-call proxies mapping (a measurable share of each call's CPU).
        if len({tuple(sorted(p.items())) for p in proxies.values()}) <= 1:
            self.session.proxies = next(iter(proxies.values()), {})
            proxies = dict.fromkeys(self.origins)
        self.proxies: dict[str, dict | None] = proxies

    def call(self, method: str, token: str, body: dict, stream: bool = False) -> requests.Response:
        """A 2xx response (streaming when asked), or the classified UpstreamError of the last origin."""
        path = f"/v1internal:{method}" + ("?alt=sse" if stream else "")
        return self._send("POST", path, token, dumps(body).encode(), stream)

    def get_operation(self, name: str, token: str) -> dict:
        """Poll a long-running operation such as `operations/onboard-123`."""
        return self._send("GET", f"/v1internal/{name}", token, None, False).json()

    def _send(self, verb: str, path: str, token: str, data: bytes | None, stream: bool) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "User-Agent": "antigravity"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        failure: UpstreamError = TransportFailed("No upstream origin configured.")
        for origin in self.origins:
            try:
                response = self.session.request(
                    verb,
                    origin + path,
                    data=data,
                    headers=headers,
                    stream=stream,
                    timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                    proxies=self.proxies[origin],
                )
            except requests.Timeout:
                failure = TransportFailed("Upstream did not answer in time.", timeout=True)
                continue
            except requests.RequestException as exc:
                failure = TransportFailed(f"Upstream unreachable: {type(exc).__name__}.")
                continue
            if response.ok:
                return response
            failure = classify(response.status_code, response.text, response.headers.get("Retry-After"))
            response.close()
            # Antigravity's rule: an origin that is down or does not know the route is skipped.
            if not (response.status_code in (404, 408) or response.status_code >= 500):
                break
        raise failure
