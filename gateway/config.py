"""Settings, read once from GATEWAY_* variables and validated at start."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import ssl
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .routing import NO_ALIASES, NO_FALLBACKS, Aliases, Fallbacks
from .upstream.identity import AUTO, BUILT_IN_USER_AGENT, DEFAULT_MANIFEST_URL

if TYPE_CHECKING:
    from .upstream.translate.families import Families

# Antigravity's order: the sandbox host answers first, prod last (antigravity-gemini-spec §6).
DEFAULT_UPSTREAM_URLS = (
    "https://daily-cloudcode-pa.sandbox.googleapis.com",
    "https://daily-cloudcode-pa.googleapis.com",
    "https://cloudcode-pa.googleapis.com",
)
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
DEFAULT_USERINFO_URL = "https://www.googleapis.com/oauth2/v2/userinfo"
DEFAULT_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
# Antigravity's installed-app OAuth client. The "secret" of an installed-app client is public by design
# (RFC 8252 §8.5); it only identifies the app, it authenticates nobody.
DEFAULT_CLIENT_ID = "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "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"
DEFAULT_DATA_DIR = Path("~/.local/share/gemini-gateway")
DEFAULT_FILES_MAX_BYTES = 20 * 1024 * 1024  # the Gemini API's own request limit: a file inlined must fit in one
# What calls to Google carry before (or without) the auto-updater manifest: upstream/identity.py.
DEFAULT_USER_AGENT = BUILT_IN_USER_AGENT
AUTH_MODES = ("off", "strict", "all_except_health", "auto")
REDIS_SCHEMES = ("redis://", "rediss://", "redis+sentinel://", "rediss+sentinel://")
# Every GATEWAY_* variable the gateway reads (without the prefix). Any other GATEWAY_* name is refused at start:
# a typo (GATEWAY_API_KYE) would otherwise leave auth off, or a setting unapplied, without a word.
VARIABLES = frozenset(
    {
        *("BIND", "WORKERS", "DATA_DIR", "API_KEY", "AUTH_MODE", "UPSTREAM_URLS", "UPSTREAM_PROXY", "CA_BUNDLE"),
        *("OAUTH_TOKEN_URL", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_USERINFO_URL", "OAUTH_AUTH_URL"),
        *("MAX_RETRY_ATTEMPTS", "STATE_URL", "METRICS_PUBLIC", "LOG_FORMAT", "LOG_ACCOUNTS", "USER_AGENT"),
        *("CLIENT_MANIFEST_URL",),
        *("CORS_ORIGINS", "TRANSLATE_OFF", "MODEL_ALIASES", "MODEL_FALLBACKS", "FORWARDED_ALLOW_IPS"),
        *("MODEL_RULES", "MODELS_REFRESH"),
        *("FILES_DIR", "FILES_MAX_BYTES"),
        "WORKER_CONNECTIONS",
    }
)
T = TypeVar("T")


class SettingsError(ValueError):
    """A GATEWAY_* variable holds a value the gateway cannot run with."""


@dataclass(frozen=True)
class Settings:
    bind: str = "127.0.0.1:8045"
    workers: int = 2
    # Connections one worker holds open at once (gunicorn's worker_connections; an open stream holds one).
    # 6000: the default two workers hold 10,000 streams with 20% to spare, because workers race for each
    # accept and a busy one takes fewer, so the split is never quite even.
    worker_connections: int = 6000
    data_dir: Path = DEFAULT_DATA_DIR
    api_key: str = field(default="", repr=False)
    auth_mode: str = "off"  # the effective mode: "auto" is resolved from the bind address and the keys
    upstream_urls: tuple[str, ...] = DEFAULT_UPSTREAM_URLS
    oauth_token_url: str = DEFAULT_TOKEN_URL
    oauth_client_id: str = DEFAULT_CLIENT_ID
    oauth_client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    oauth_userinfo_url: str = DEFAULT_USERINFO_URL
    oauth_auth_url: str = DEFAULT_AUTH_URL
    max_retry_attempts: int = 3
    upstream_proxies: Mapping[str, str] = field(default_factory=dict)
    no_proxy: str = ""
    metrics_public: bool = False
    state_url: str = ""  # "" or sqlite:///path: SQLite only; redis:// or rediss://: shared through Redis
    log_format: str = "json"
    log_accounts: str = "hash"
    user_agent: str = AUTO  # "auto": the auto-updater manifest's release (upstream/identity.py); else sent as is
    client_manifest_url: str = DEFAULT_MANIFEST_URL
    cors_origins: tuple[str, ...] = ()  # web pages allowed to call; empty: any when a key is required, else none
    translate_off: frozenset[str] = frozenset()  # translation rules switched off by name
    model_families: Families | None = None  # None: the built-in table; else GATEWAY_MODEL_RULES before it
    models_refresh: int = 10800  # seconds between re-reads of every account's model list; 0: never
    # model routing: aliases and fallback chains
    model_aliases: Aliases = NO_ALIASES
    model_fallbacks: Fallbacks = NO_FALLBACKS
    # Upstream TLS: a PEM file of the CAs trusted for Google and the proxy; "": the system's.
    ca_bundle: str = ""
    # Team keys: GATEWAY_AUTH_MODE was auto, so auth also turns on once any team key exists.
    auth_auto: bool = False
    # gunicorn's forwarded_allow_ips: the proxies whose X-Forwarded-Proto is believed
    forwarded_allow_ips: str = "127.0.0.1,::1"
    # Files API: where uploads live ("": <data dir>/files) and the size of the largest one
    files_dir: Path | None = None
    files_max_bytes: int = DEFAULT_FILES_MAX_BYTES

    @property
    def database(self) -> Path:
        if self.state_url.startswith("sqlite:///"):
            return Path(self.state_url.removeprefix("sqlite:///")).expanduser()
        return self.data_dir.expanduser() / "gateway.db"

    @property
    def files_root(self) -> Path:
        return (self.files_dir or self.data_dir / "files").expanduser()

    @property
    def redis_url(self) -> str:
        return self.state_url if self.state_url.startswith(REDIS_SCHEMES) else ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from a mapping of GATEWAY_* variables (os.environ by default)."""
        env = os.environ if env is None else env
        _refuse_unknown(env)

        def get(name: str, default: str = "") -> str:
            assert name in VARIABLES, f"GATEWAY_{name} is read but not listed in VARIABLES"
            return env.get(f"GATEWAY_{name}", "").strip() or default

        bind = _bind("BIND", get("BIND", cls.bind))
        mode = _choice("AUTH_MODE", get("AUTH_MODE", "auto").lower(), AUTH_MODES)
        if mode == "auto":
            mode = "off" if is_loopback(bind) and not key_configured(get("API_KEY")) else "all_except_health"
        proxies, no_proxy = _proxies(get("UPSTREAM_PROXY"), env)
        return cls(
            bind=bind,
            workers=_positive_int("WORKERS", get("WORKERS", "2")),
            worker_connections=_positive_int(
                "WORKER_CONNECTIONS", get("WORKER_CONNECTIONS", str(cls.worker_connections))
            ),
            data_dir=Path(get("DATA_DIR", str(DEFAULT_DATA_DIR))).expanduser(),
            api_key=get("API_KEY"),
            auth_mode=mode,
            upstream_urls=tuple(_origin("UPSTREAM_URLS", u) for u in _split(get("UPSTREAM_URLS")))
            or DEFAULT_UPSTREAM_URLS,
            oauth_token_url=_origin("OAUTH_TOKEN_URL", get("OAUTH_TOKEN_URL", DEFAULT_TOKEN_URL), path=True),
            oauth_client_id=get("OAUTH_CLIENT_ID", DEFAULT_CLIENT_ID),
            oauth_client_secret=get("OAUTH_CLIENT_SECRET", DEFAULT_CLIENT_SECRET),
            oauth_userinfo_url=_origin(
                "OAUTH_USERINFO_URL", get("OAUTH_USERINFO_URL", DEFAULT_USERINFO_URL), path=True
            ),
            oauth_auth_url=_origin("OAUTH_AUTH_URL", get("OAUTH_AUTH_URL", DEFAULT_AUTH_URL), path=True),
            max_retry_attempts=_positive_int("MAX_RETRY_ATTEMPTS", get("MAX_RETRY_ATTEMPTS", "3")),
            upstream_proxies=proxies,
            no_proxy=no_proxy,
            state_url=_state_url(get("STATE_URL")),
            metrics_public=_choice("METRICS_PUBLIC", get("METRICS_PUBLIC", "0"), ("0", "1")) == "1",
            log_format=_choice("LOG_FORMAT", get("LOG_FORMAT", "json").lower(), ("json", "text")),
            log_accounts=_choice("LOG_ACCOUNTS", get("LOG_ACCOUNTS", "hash").lower(), ("hash", "short", "email")),
            user_agent=_user_agent("USER_AGENT", get("USER_AGENT", AUTO)),
            client_manifest_url=_origin(
                "CLIENT_MANIFEST_URL", get("CLIENT_MANIFEST_URL", DEFAULT_MANIFEST_URL), path=True
            ),
            cors_origins=tuple(o if o == "*" else _origin("CORS_ORIGINS", o) for o in _split(get("CORS_ORIGINS"))),
            translate_off=_rule_names("TRANSLATE_OFF", _split(get("TRANSLATE_OFF"))),
            model_families=_model_rules("MODEL_RULES", get("MODEL_RULES")),
            models_refresh=_seconds("MODELS_REFRESH", get("MODELS_REFRESH", str(cls.models_refresh))),
            # model routing
            model_aliases=_routing("MODEL_ALIASES", Aliases.parse, get("MODEL_ALIASES")),
            model_fallbacks=_routing("MODEL_FALLBACKS", Fallbacks.parse, get("MODEL_FALLBACKS")),
            # Upstream TLS
            ca_bundle=_ca_bundle("CA_BUNDLE", get("CA_BUNDLE")),
            # Team keys
            auth_auto=get("AUTH_MODE", "auto").lower() == "auto",
            forwarded_allow_ips=_networks("FORWARDED_ALLOW_IPS", get("FORWARDED_ALLOW_IPS", cls.forwarded_allow_ips)),
            # Files API
            files_dir=Path(get("FILES_DIR")).expanduser().absolute() if get("FILES_DIR") else None,
            files_max_bytes=_positive_int("FILES_MAX_BYTES", get("FILES_MAX_BYTES", str(DEFAULT_FILES_MAX_BYTES))),
        )


def _refuse_unknown(env: Mapping[str, str]) -> None:
    """Refuse a GATEWAY_* name the gateway does not read, naming the known one it is nearest to."""
    for name in sorted(n for n in env if n.startswith("GATEWAY_") and n.removeprefix("GATEWAY_") not in VARIABLES):
        nearest = difflib.get_close_matches(name.removeprefix("GATEWAY_"), sorted(VARIABLES), n=1, cutoff=0.6)
        hint = f"; did you mean GATEWAY_{nearest[0]}?" if nearest else ""
        raise SettingsError(f"{name} is not a setting of the gateway{hint} (docs/configuration.md lists them)")


def _bind(name: str, bind: str) -> str:
    """HOST:PORT, [IPv6]:PORT or unix:PATH, checked here: gunicorn would retry a bad one for seconds, or
    fail with a traceback (port 99999), never naming the variable."""
    if bind.startswith(("unix:", "fd://")):
        return bind
    host, colon, port = bind.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1] if _is_ip(host[1:-1]) else ""
    elif ":" in host:
        host = ""  # IPv6 without brackets: gunicorn would split it at its first colon
    valid_host = _is_ip(host) or bool(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host))
    if not colon or not valid_host or not port.isdigit() or int(port) > 65535:
        raise SettingsError(f"GATEWAY_{name} must be HOST:PORT, [IPv6]:PORT or unix:PATH, not {bind!r}")
    return bind


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _networks(name: str, value: str) -> str:
    """A comma-separated list of IP addresses or networks, or `*` (what gunicorn accepts, but named here)."""
    for part in _split(value):
        try:
            if part != "*":
                ipaddress.ip_network(part)
        except ValueError:
            raise SettingsError(f"GATEWAY_{name} must list IP addresses or networks (or *), not {part!r}") from None
    return value


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _rule_names(name: str, names: list[str]) -> frozenset[str]:
    from .upstream.translate import RULE_NAMES

    unknown = sorted(set(names) - RULE_NAMES)
    if unknown:
        known = ", ".join(sorted(RULE_NAMES))
        raise SettingsError(f"GATEWAY_{name}: no translation rule named {', '.join(unknown)} (rules: {known})")
    return frozenset(names)


def _model_rules(name: str, path: str) -> Families | None:
    """The operator's family table before the built-in one; a bad file stops the start naming file and key."""
    if not path:
        return None
    from .upstream.translate.families import BUILT_IN, Families, RulesError

    try:
        return Families.load(Path(path).expanduser()).before(BUILT_IN)
    except RulesError as exc:
        raise SettingsError(f"GATEWAY_{name}: {exc}") from None


def _routing(name: str, parse: Callable[[str], T], value: str) -> T:
    try:
        return parse(value)
    except ValueError as exc:
        raise SettingsError(f"GATEWAY_{name}: {exc}") from None


def _state_url(url: str) -> str:
    if url and not url.startswith(("sqlite:///", *REDIS_SCHEMES)):
        raise SettingsError(
            "GATEWAY_STATE_URL must be sqlite:///path, redis://host:port/db, rediss://... or "
            f"redis+sentinel://host:port[,host:port]/SERVICE[/DB], not {url!r}"
        )
    if url.startswith(REDIS_SCHEMES[2:]):
        from .accounts.sentinel import SentinelUrl

        try:
            SentinelUrl.parse(url)
        except ValueError as exc:
            raise SettingsError(f"GATEWAY_STATE_URL: {exc}") from None
    return url


def _ca_bundle(name: str, path: str) -> str:
    """The absolute path of a readable PEM file holding CA certificates."""
    if not path:
        return ""
    path = str(Path(path).expanduser().absolute())
    try:
        ssl.create_default_context(cafile=path)
        return path
    except ssl.SSLError:
        reason = "no PEM certificate in it"
    except OSError as exc:  # missing, unreadable, a directory
        reason = exc.strerror or str(exc)
    raise SettingsError(f"GATEWAY_{name}: cannot use {path} as a CA bundle ({reason})")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"GATEWAY_{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _user_agent(name: str, value: str) -> str:
    return AUTO if value.lower() == AUTO else _header_value(name, value)


def _header_value(name: str, value: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise SettingsError(f"GATEWAY_{name} must be printable ASCII (it is sent as an HTTP header)")
    return value


def _positive_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise SettingsError(f"GATEWAY_{name} must be a positive integer, not {value!r}")
    return number


def _seconds(name: str, value: str) -> int:
    """A whole number of seconds, 0 for never."""
    if not value.isdigit():
        raise SettingsError(f"GATEWAY_{name} must be a whole number of seconds (0: never), not {value!r}")
    return int(value)


def _origin(name: str, url: str, path: bool = False) -> str:
    """Check an http(s) URL; upstream origins must be bare (`https://host[:port]`)."""
    scheme, _, rest = url.partition("://")
    host, slash, tail = rest.partition("/")
    if scheme not in ("http", "https") or not host or (slash and not path and tail):
        shape = "an http(s) URL" if path else "a bare origin like https://host[:port]"
        raise SettingsError(f"GATEWAY_{name} must be {shape}, not {url!r}")
    return url.rstrip("/") if not path else url


def key_configured(api_key: str) -> bool:
    """Whether clients have a key to present: `auto` keeps auth off (on loopback) only while none exists,
    and a public bind with auth on needs one. Behind nginx the bind is loopback: a key must still count."""
    return bool(api_key)


def is_loopback(bind: str) -> bool:
    host = bind.rpartition(":")[0].strip("[]") if ":" in bind else bind
    if bind.startswith("unix:") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _proxies(explicit: str, env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """Resolve the upstream proxy once, so requests never re-reads the environment per call."""
    if explicit:
        if "://" not in explicit:
            explicit = "http://" + explicit
        _proxy_url("UPSTREAM_PROXY", explicit)
        return {"http": explicit, "https": explicit}, ""
    wanted = {k.lower(): v for k, v in env.items() if k.lower() in ("https_proxy", "http_proxy", "all_proxy")}
    proxies = {}
    for scheme in ("http", "https"):
        url = wanted.get(f"{scheme}_proxy") or wanted.get("all_proxy")
        if url:
            proxies[scheme] = url
    no_proxy = env.get("NO_PROXY", env.get("no_proxy", ""))
    return proxies, no_proxy


def _proxy_url(name: str, url: str) -> None:
    """scheme://[user:pass@]host[:port]: a typo would otherwise surface as every account's first request failing."""
    scheme, _, rest = url.partition("://")
    hostport = rest.rstrip("/").rpartition("@")[2]
    host, _, port = hostport.rpartition(":") if re.search(r":\d*$", hostport) else (hostport, "", "")
    valid = bool(re.fullmatch(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+", host)) and (not port or port.isdigit())
    if scheme not in ("http", "https", "socks5", "socks5h", "socks4", "socks4a") or not valid or "/" in hostport:
        shown = f"{scheme}://…@{hostport}" if "@" in rest else url  # its password stays out of the message
        raise SettingsError(f"GATEWAY_{name} must be a proxy URL like http://host:port, not {shown!r}")


def bypasses_proxy(url: str, no_proxy: str) -> bool:
    """Whether NO_PROXY exempts this URL (the rules urllib applies to the environment)."""
    host = url.partition("://")[2].partition("/")[0]
    return bool(no_proxy) and bool(urllib.request.proxy_bypass_environment(host, {"no": no_proxy}))
