"""Sends v1internal calls: one pooled session per worker, origins tried in order."""

from __future__ import annotations

import functools
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import select_proxy
from urllib3 import HTTPConnectionPool, HTTPResponse, HTTPSConnectionPool, ProxyManager
from urllib3.connection import HTTPConnection, HTTPSConnection

from ..clock import SYSTEM_CLOCK, Clock
from ..codec import dumps
from ..config import Settings, bypasses_proxy
from .errors import TransportFailed, UpstreamError, classify, proxy_refused, transport_failure
from .identity import ClientIdentity
from .version_gate import gate

CONNECT_TIMEOUT = 10
# Longest silence tolerated between two bytes of an answer (thinking models can pause for minutes);
# there is deliberately no cap on a whole stream.
READ_TIMEOUT = 300
ONE_WRITE_MAX = 64 * 1024  # a body up to this size leaves in the same write as the request's head


class _HeadWithBody:
    """A connection that sends a request's head and its body in one write when the body is small.

    urllib3 writes the head, then the body: two TLS records, two TCP segments. A proxy that relays a CONNECT
    tunnel without TCP_NODELAY (tinyproxy does) holds the second segment until the first is acknowledged, and
    Google's side delays that ACK while it waits for the body: 40 ms per request on Linux (issue 29, S1P).
    A big body is sent after its head as before (copying megabytes to save one segment costs more)."""

    _head = b""

    def _send_output(self, message_body: object = None, encode_chunked: bool = False) -> None:
        """http.client's end of the head: urllib3 gives no body here (it sends it next), so the head waits."""
        if message_body is not None:
            self._head = b""
            super()._send_output(message_body, encode_chunked)
            return
        self._buffer.extend((b"", b""))
        self._head = b"\r\n".join(self._buffer)
        del self._buffer[:]

    def send(self, data: bytes) -> None:
        """The first piece of the body goes out with the head that waits, if it is small enough."""
        head, self._head = self._head, b""
        if head and isinstance(data, bytes) and len(data) <= ONE_WRITE_MAX:
            data = head + data
        elif head:
            super().send(head)
        super().send(data)

    def getresponse(self) -> HTTPResponse:
        """A request without a body: its head leaves now."""
        if self._head:
            self.send(b"")
        return super().getresponse()

    def close(self) -> None:
        """A head that never left must not lead the next request on this connection."""
        self._head = b""
        super().close()


class _HTTPConnection(_HeadWithBody, HTTPConnection):
    pass


class _HTTPSConnection(_HeadWithBody, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter whose pools, direct and through an HTTP(S) proxy, send a request in one write, and
    which finds a proxy's manager by its URL as given instead of parsing that URL again on every call.

    SOCKS proxies keep urllib3's own connections (their socket is set up by PySocks)."""

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: object, proxies: dict | None = None, cert: object = None
    ) -> HTTPConnectionPool:
        """requests' own; through a known proxy without its two URL parses and checks (~12 us a call).

        requests keys its managers by the proxy URL with its scheme, which an account's proxy always has (egress.py
        checks it): one made and not closed since is found as given; any other goes the long way, which makes it."""
        proxy = select_proxy(request.url, proxies)
        manager = self.proxy_manager.get(proxy) if proxy else None
        if manager is None:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        host, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        return manager.connection_from_host(**host, pool_kwargs=pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: object) -> ProxyManager:
        made = proxy not in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if made and isinstance(manager, ProxyManager):
            manager.pool_classes_by_scheme = POOLS
        return manager


def new_session(ca_bundle: str = "", pool_size: int = 6000) -> requests.Session:
    """A session that never consults the environment per call (trust_env costs ~40% of a relay's CPU),
    trusting the CAs of `ca_bundle` (a PEM file), or the system's when empty.

    `pool_size` connections per origin are kept for reuse: one per connection the worker may hold
    (GATEWAY_WORKER_CONNECTIONS), since each open stream holds one upstream connection for its whole life.
    The pool never blocks (urllib3's pool_block=False), so a stream never waits for a slot; a smaller pool
    would only close connections past its size on release ("Connection pool is full" warnings) and pay a
    new TLS handshake for the next stream. Empty slots cost a list entry each."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle or True
    # One session serves every account: a cookie set for one must never ride along with another's calls.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _Adapter(pool_connections=8, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class UpstreamClient:
    """POSTs to `<origin>/v1internal:<method>`, falling back to the next origin on outages."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        clock: Clock = SYSTEM_CLOCK,
        identity: ClientIdentity | None = None,
        routing: dict[str, str] | None = None,
    ) -> None:
        """`routing`: the proxies of one account's egress ({} direct); None: the settings' (GATEWAY_UPSTREAM_PROXY)."""
        self.session = session or new_session(settings.ca_bundle, settings.worker_connections)
        self.clock = clock
        self.origins = settings.upstream_urls
        self.identity = identity or ClientIdentity(settings.user_agent, settings.client_manifest_url)
        self.proxies = {
            origin: dict(routing)
            if routing is not None
            else {}
            if bypasses_proxy(origin, settings.no_proxy)
            else dict(settings.upstream_proxies)
            for origin in (*self.origins, settings.client_manifest_url)
        }

    @property
    def user_agent(self) -> str:
        """What every call carries now (the identity may move to a newer release while the worker runs)."""
        return self.identity.user_agent

    def refresh_identity(self) -> None:
        """Read the current client release from the auto-updater manifest (a background job, every 6 hours)."""
        self.identity.refresh(self.session, self.proxies[self.identity.manifest_url])

    def call(self, method: str, token: str, body: dict, stream: bool = False) -> requests.Response:
        """A 2xx response (streaming when asked), or the classified UpstreamError of the last origin."""
        path = f"/v1internal:{method}" + ("?alt=sse" if stream else "")
        return self._send("POST", path, token, dumps(body), stream)

    def get_operation(self, name: str, token: str) -> dict:
        """Poll a long-running operation such as `operations/onboard-123`."""
        return self._send("GET", f"/v1internal/{name}", token, None, False).json()

    def _send(self, verb: str, path: str, token: str, data: bytes | None, stream: bool) -> requests.Response:
        failure: UpstreamError = TransportFailed("No upstream origin configured.")
        user_agent = self.user_agent
        for origin in self.origins:
            try:
                # Straight to the transport adapter: Session.send would add redirect following, cookie
                # extraction and hooks, none of which an API call to Google needs (~30 us per call).
                response = self.session.get_adapter(origin).send(
                    _prepared(verb, origin + path, token, data, user_agent),
                    stream=stream,
                    timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                    verify=self.session.verify,
                    cert=None,
                    proxies=self.proxies[origin],
                )
            except requests.RequestException as exc:
                failure = transport_failure(exc, origin, self.proxies[origin].get(origin.partition(":")[0]))
                continue
            if response.status_code < 300:
                return response
            proxy = self.proxies[origin].get(origin.partition(":")[0])
            if response.status_code == 407 and proxy:
                response.close()
                raise proxy_refused(proxy, 407)
            if response.status_code < 400:  # Google's API never redirects: whatever does is not Google
                response.close()
                failure = TransportFailed(f"Upstream answered a redirect (HTTP {response.status_code}).")
                continue
            failure = gate(
                classify(response.status_code, response.text, response.headers.get("Retry-After"), self.clock),
                user_agent,
            )
            response.close()
            # Antigravity's rule: an origin that is down or does not know the route is skipped.
            if not (response.status_code in (404, 408) or response.status_code >= 500):
                break
        raise failure


def _prepared(verb: str, url: str, token: str, data: bytes | None, user_agent: str) -> requests.PreparedRequest:
    """The request as `Session.request` would prepare it, without redoing per call what never changes.

    Preparing re-parses the URL and merges session headers, cookies and settings: a tenth of a millisecond,
    about a tenth of a relayed request's CPU. Our URLs are fixed (checked at start), our headers known.
    """
    request = requests.PreparedRequest()
    request.method, request.url, request.body = verb, _checked_url(url), data
    request.headers = CaseInsensitiveDict(
        {
            "Authorization": f"Bearer {token}",
            "User-Agent": user_agent,
            # Google compresses when asked; events must arrive as written, the moment they are written.
            "Accept-Encoding": "identity",
            "Accept": "*/*",
            "Connection": "keep-alive",
        }
    )
    if data is not None:
        request.headers["Content-Type"] = "application/json"
        request.headers["Content-Length"] = str(len(data))
    request.hooks = {"response": []}
    return request


@functools.lru_cache(maxsize=64)
def _checked_url(url: str) -> str:
    """The URL as requests normalises it (done once per distinct URL)."""
    request = requests.PreparedRequest()
    request.prepare_url(url, None)
    return request.url
