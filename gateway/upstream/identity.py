"""The client identity every call to Google carries: the current Antigravity desktop release's User-Agent.

Google gates the catalog and the API on the client version (v1internal-rules.md §5, §6: 1.11.5 refused, newer
models 404 below 2.9.0, Gemini 4 Argon hidden from old identities). The release moves every week or two, so by
default (`GATEWAY_USER_AGENT=auto`) the version is read from the auto-updater manifest CLIProxyAPI reads
(`internal/misc/antigravity_version.go`), at start in the background and every 6 hours; until it answers, or
when it cannot be read, a built-in release of late 2026 is sent. Both in the 2.x shape
`antigravity/hub/<version> darwin/arm64`: the pre-2.0 `antigravity/<version> os/arch` is never sent.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # requests is imported when used: config imports this module in gunicorn's master, where
    import requests  # urllib3's ssl must not load before the gevent workers patch it

log = logging.getLogger(__name__)

AUTO = "auto"
# electron-builder's update manifest of the Antigravity hub (desktop) app: YAML with a top-level `version:`.
DEFAULT_MANIFEST_URL = (
    "https://antigravity-hub-auto-updater-974169037036.us-central1.run.app/manifest/latest-arm64-mac.yml"
)
BUILT_IN_VERSION = "2.37.0"  # the hub release of 2026-12-03 (v1internal-rules.md §6)
REFRESH_EVERY = 6 * 3600.0
FETCH_TIMEOUT = 3.0  # seconds per read, and for the whole body however slowly it trickles in
MAX_MANIFEST_BYTES = 64 * 1024  # a real one is under 1 KB
# Google refuses clients below 2.9.0 for newer models: a manifest naming less is not the current release.
OLDEST_ACCEPTED = (2, 9, 0)
_VERSION_LINE = re.compile(r"""^version:\s*["']?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]{1,32})?)["']?\s*(?:#.*)?$""")


class ManifestUnreadable(ValueError):
    """The manifest did not give a usable version."""


def user_agent_for(version: str) -> str:
    """The desktop client's User-Agent for one release."""
    return f"antigravity/hub/{version} darwin/arm64"


BUILT_IN_USER_AGENT = user_agent_for(BUILT_IN_VERSION)


def manifest_version(text: str) -> str:
    """The top-level `version:` of an electron-builder manifest (the one line read: no YAML parser needed)."""
    for line in text.splitlines():
        if line.startswith("version:"):
            found = _VERSION_LINE.match(line.strip())
            if not found:
                raise ManifestUnreadable(f"its version line is not a release number: {line.strip()[:60]!r}")
            version = found.group(1)
            if tuple(int(n) for n in version.split("-")[0].split("+")[0].split(".")) < OLDEST_ACCEPTED:
                raise ManifestUnreadable(f"it names {version}, older than any release Google still serves")
            return version
    raise ManifestUnreadable("it has no top-level version: line")


class ClientIdentity:
    """The User-Agent calls carry now: as configured, or (auto) the manifest's release, else the built-in one."""

    def __init__(self, configured: str, manifest_url: str = DEFAULT_MANIFEST_URL) -> None:
        self.auto = configured == AUTO
        self.manifest_url = manifest_url
        self.user_agent = BUILT_IN_USER_AGENT if self.auto else configured
        self.source = "built-in" if self.auto else "GATEWAY_USER_AGENT"
        self._warned = False  # one warning per run of failures, not one every 6 hours

    def refresh(self, session: requests.Session, proxies: dict[str, str]) -> None:
        """Read the manifest once (auto only); on any failure keep what is sent and warn once."""
        import requests

        if not self.auto:
            return
        try:
            version = manifest_version(_read(session, self.manifest_url, proxies))
        except (requests.RequestException, ManifestUnreadable, UnicodeDecodeError) as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "cannot read the Antigravity version from %s (%s): sending %s",
                    self.manifest_url,
                    _why(exc),
                    self.user_agent,
                )
            return
        self._warned = False
        changed = user_agent_for(version) != self.user_agent
        self.user_agent, self.source = user_agent_for(version), "manifest"
        if changed:
            log.info("client version %s read from %s: sending %s", version, self.manifest_url, self.user_agent)


def _read(session: requests.Session, url: str, proxies: dict[str, str]) -> str:
    """The manifest's text, read within FETCH_TIMEOUT in all (requests' timeouts bound each read, not the sum)."""
    deadline = time.monotonic() + FETCH_TIMEOUT
    with session.get(url, timeout=FETCH_TIMEOUT, proxies=proxies, stream=True) as response:
        response.raise_for_status()
        body = b""
        for chunk in response.iter_content(4096):
            body += chunk
            if len(body) > MAX_MANIFEST_BYTES:
                raise ManifestUnreadable("it is far larger than a manifest")
            if time.monotonic() > deadline:
                raise ManifestUnreadable(f"it took over {FETCH_TIMEOUT:.0f} s to arrive")
    return body.decode()


def _why(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.HTTPError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {FETCH_TIMEOUT:.0f} s"
    if isinstance(exc, requests.RequestException):
        return f"unreachable: {type(exc).__name__}"
    return str(exc) if isinstance(exc, ManifestUnreadable) else "not text"
