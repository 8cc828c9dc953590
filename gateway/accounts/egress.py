"""Each account's egress: the proxy its calls to Google go through, with one connection pool per egress.

An account's `proxy` is NULL (the default: GATEWAY_UPSTREAM_PROXY, or HTTPS_PROXY / NO_PROXY), DIRECT (a direct
connection), or a proxy URL, which may hold credentials: shown only masked (`mask`) or as `host:port` (`shown`).
Operators put accounts behind different egresses because a datacenter address gets "User location is not
supported" and many accounts behind one address look like one client to Google (v1internal-rules.md §6).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..clock import SYSTEM_CLOCK, Clock
from ..config import Settings
from ..upstream.client import UpstreamClient, new_session
from ..upstream.errors import proxy_name
from ..upstream.identity import ClientIdentity
from .oauth import OAuth
from .store import Account

DIRECT = "none"  # stored and shown for an account that connects directly, whatever GATEWAY_UPSTREAM_PROXY says
DEFAULT = "default"  # the CLI word for "back to GATEWAY_UPSTREAM_PROXY" (stored as NULL)
SCHEMES = ("http", "https", "socks5", "socks5h")  # socks5h: the proxy resolves Google's names


class EgressError(ValueError):
    """A --proxy value the gateway cannot use; the message never holds its password."""


def parse_proxy(value: str) -> str | None:
    """What to store for a --proxy value: None for `default`, DIRECT for `none`, else the checked URL."""
    value = value.strip()
    if value.lower() == DEFAULT:
        return None
    if value.lower() in (DIRECT, "direct"):
        return DIRECT
    scheme, _, rest = value.partition("://")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    hostport = rest.rstrip("/").rpartition("@")[2]
    valid = (
        parts is not None
        and scheme.lower() in SCHEMES
        and bool(parts.hostname)
        and bool(re.fullmatch(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+(:\d+)?", hostport))
    )
    if not valid:
        raise EgressError(
            f"--proxy must be {', '.join(s + '://host:port' for s in SCHEMES)}, `default` or `none`, "
            f"not {_masked_text(value)!r}"
        )
    return f"{scheme.lower()}://{rest.rstrip('/')}"


def mask(proxy: str | None) -> str | None:
    """The stored value as it may be shown: credentials as `***` (`http://***@host:port`), None for the default."""
    if proxy is None or proxy == DIRECT:
        return proxy
    return _masked_text(proxy)


def shown(proxy: str | None) -> str:
    """`host:port` of a proxy URL, or `direct`: what the console and error messages name."""
    return "direct" if not proxy or proxy == DIRECT else proxy_name(proxy)


def effective(account: Account, settings: Settings) -> str:
    """The proxy URL the account's calls to Google take, or "" for a direct connection."""
    if account.proxy is None:
        return settings.upstream_proxies.get("https") or settings.upstream_proxies.get("http") or ""
    return "" if account.proxy == DIRECT else account.proxy


def egress_of(account: Account, settings: Settings) -> str:
    """The account's effective egress as a comparable string: equal for two accounts that leave by the same way.

    It may hold the proxy's credentials (two logins on one proxy can be two exits): compare it, never show it."""
    return effective(account, settings) or DIRECT


def _masked_text(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"


@dataclass(frozen=True)
class Route:
    """How one egress reaches Google: its own session (connection pool) for v1internal and OAuth alike."""

    client: UpstreamClient
    oauth: OAuth
    name: str  # host:port or "direct", for messages


class Egresses:
    """One Route per distinct egress, made on first use and kept for the worker's life (pools reused)."""

    def __init__(self, settings: Settings, clock: Clock = SYSTEM_CLOCK, identity: ClientIdentity | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.identity = identity or ClientIdentity(settings.user_agent, settings.client_manifest_url)  # one for all
        self.default = self._route(None)
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()

    def of(self, account: Account) -> Route:
        """The route of the account's calls (every one of them: OAuth, project, quota, generate)."""
        return self.for_proxy(account.proxy)

    def for_proxy(self, proxy: str | None) -> Route:
        """The route for a stored `proxy` value (None: the default)."""
        if proxy is None:
            return self.default
        route = self._routes.get(proxy)
        if route is None:
            with self._lock:
                route = self._routes.get(proxy) or self._route(proxy)
                self._routes[proxy] = route
        return route

    def _route(self, proxy: str | None) -> Route:
        session = new_session(self.settings.ca_bundle, self.settings.worker_connections)
        if proxy is None:
            routing = None  # the settings' own: GATEWAY_UPSTREAM_PROXY, or the environment's with NO_PROXY
            name = shown(self.settings.upstream_proxies.get("https") or self.settings.upstream_proxies.get("http"))
        else:
            routing = {} if proxy == DIRECT else {"http": proxy, "https": proxy}
            name = shown(proxy)
        return Route(
            UpstreamClient(self.settings, session, self.clock, self.identity, routing),
            OAuth(self.settings, session, self.clock, routing),
            name,
        )
