"""The client identity every call to Google carries: the current Antigravity desktop release's User-Agent.

Google gates the catalog and the API on the client version (v1internal-rules.md §5, §6: 1.11.5 refused, newer
models 404 below 2.9.0, Gemini 4 Argon hidden from old identities). The release moves every week or two, so by
default (`GATEWAY_USER_AGENT=auto`) the version is read from the auto-updater manifest CLIProxyAPI reads
(`internal/misc/antigravity_version.go`), at start in the background and every 6 hours; until it answers, or
when it cannot be read, a built-in release of late 2026 is sent. Both in the 2.x shape
`antigravity/hub/<version> darwin/arm64`: the pre-2.0 `antigravity/<version> os/arch` is never sent.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import time
from typing import TYPE_CHECKING

from ..accounts.store import OwnTable

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
SLACK = 60.0  # a release read this much less than REFRESH_EVERY ago is current: the workers' timers drift apart
LEASE = 10.0  # seconds one worker may take to read the manifest before another may try
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


class SharedRelease(OwnTable):
    """The release this host's workers last read from the manifest: one worker reads it per refresh (one fetch,
    one warning), the others take what it read, and the CLI starts from it too."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS client_release (
        id INTEGER PRIMARY KEY CHECK (id = 1), version TEXT NOT NULL DEFAULT '', checked REAL NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0, lease_until REAL NOT NULL DEFAULT 0
    );
    INSERT OR IGNORE INTO client_release (id) VALUES (1);
    """

    def read(self) -> tuple[str, float, bool]:
        """The last release read ("" when none yet), when the manifest was last tried, and whether that failed."""
        row = self.conn.execute("SELECT version, checked, failed FROM client_release").fetchone()
        return row[0], row[1], bool(row[2])

    def lease(self) -> bool:
        """Whether this worker is the one to read the manifest now (no other is, or its lease lapsed)."""
        now = self.store.clock()
        cursor = self.conn.execute(
            "UPDATE client_release SET lease_until = ? WHERE lease_until <= ?", (now + LEASE, now)
        )
        return cursor.rowcount == 1

    def write(self, version: str) -> None:
        """What this read of the manifest gave: a release, or "" when it failed (the last release stays)."""
        self.conn.execute(
            "UPDATE client_release SET version = CASE WHEN ? = '' THEN version ELSE ? END, checked = ?, "
            "failed = ?, lease_until = 0",
            (version, version, self.store.clock(), int(not version)),
        )


class ClientIdentity:
    """The User-Agent calls carry now: as configured, or (auto) the manifest's release, else the built-in one."""

    def __init__(
        self, configured: str, manifest_url: str = DEFAULT_MANIFEST_URL, shared: SharedRelease | None = None
    ) -> None:
        self.auto = configured == AUTO
        self.manifest_url = manifest_url
        self.shared = shared if self.auto else None
        self.user_agent = BUILT_IN_USER_AGENT if self.auto else configured
        self.source = "built-in" if self.auto else "GATEWAY_USER_AGENT"
        self._failing = False  # the last read failed: one warning per run of failures, not one every 6 hours
        if self.shared is not None:
            with contextlib.suppress(sqlite3.Error):  # a database that cannot be read: the built-in release
                self._adopt(self.shared.read()[0], quiet=True)

    def refresh(self, session: requests.Session, proxies: dict[str, str]) -> None:
        """Take the current release (auto only): what another worker of this host just read, else the manifest's."""
        if not self.auto:
            return
        if self.shared is None:
            return self._adopt(self._fetch(session, proxies))
        try:
            version, checked, self._failing = self.shared.read()
            if self.shared.store.clock() - checked >= REFRESH_EVERY - SLACK:  # due: one worker reads it
                if self.shared.lease():
                    fetched = self._fetch(session, proxies)
                    self.shared.write(fetched)
                    version = fetched or version
                else:
                    version = self._wait_for_reader(checked) or version
        except sqlite3.Error:  # no shared record: this worker reads for itself
            version = self._fetch(session, proxies)
        self._adopt(version)

    def _wait_for_reader(self, checked: float) -> str:
        """The release the worker holding the lease reads, once it wrote it (or "" after LEASE seconds)."""
        deadline = time.monotonic() + LEASE
        while time.monotonic() < deadline:
            time.sleep(0.1)
            version, now_checked, _ = self.shared.read()
            if now_checked != checked:
                return version
        return ""

    def _fetch(self, session: requests.Session, proxies: dict[str, str]) -> str:
        """The manifest's release, or "" with a warning (the first of a run of failures only)."""
        import requests

        try:
            version = manifest_version(_read(session, self.manifest_url, proxies))
        except (requests.RequestException, ManifestUnreadable, UnicodeDecodeError) as exc:
            if not self._failing:
                self._failing = True
                log.warning(
                    "cannot read the Antigravity version from GATEWAY_CLIENT_MANIFEST_URL %s (%s): sending %s",
                    self.manifest_url,
                    _why(exc),
                    self.user_agent,
                )
            return ""
        self._failing = False
        return version

    def _adopt(self, version: str, quiet: bool = False) -> None:
        if not version or user_agent_for(version) == self.user_agent:
            return
        self.user_agent, self.source = user_agent_for(version), "manifest"
        if not quiet:
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
