"""Bring accounts in: read the export formats users have, verify each token, store the account."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..upstream.errors import UpstreamError
from .egress import Route
from .oauth import InvalidGrant
from .project import NoProject, discover
from .quota import fetch_models
from .store import Account, Store

FORMATS = (
    'an Antigravity-Manager export {"accounts": [{"email", "refresh_token"}]}, a JSON list of such objects, '
    "a single such object (gemini-cli's oauth_creds.json too), or an Antigravity-Manager data folder "
    "(accounts.json + accounts/*.json)"
)


class ImportFormatError(ValueError):
    """The file or folder is not one of the formats `gateway accounts import` reads."""


@dataclass(frozen=True)
class Credential:
    refresh_token: str
    email: str = ""
    project: str = ""


@dataclass(frozen=True)
class Enrolled:
    account: Account | None
    note: str  # what happened, for the user; never the token


def read_credentials(path: Path) -> list[Credential]:
    """Every credential in a file or an Antigravity-Manager data folder."""
    if path.is_dir():
        files = sorted((path / "accounts").glob("*.json"))
        if not files:
            raise ImportFormatError(f"{path} has no accounts/*.json; expected {FORMATS}")
        return [_credential(_load(file), file) for file in files]
    payload = _load(path)
    if isinstance(payload, dict) and isinstance(payload.get("accounts"), list):
        payload = payload["accounts"]
    entries = payload if isinstance(payload, list) else [payload]
    if not entries:
        raise ImportFormatError(f"{path} holds no accounts: its list is empty")
    return [_credential(entry, path) for entry in entries]


def _load(path: Path) -> object:
    try:
        # Antigravity-Manager tolerates a BOM; so do we.
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise ImportFormatError(f"{path} is not JSON; expected {FORMATS}") from None


def _credential(entry: object, source: Path) -> Credential:
    if isinstance(entry, dict):
        token = entry.get("token") if isinstance(entry.get("token"), dict) else entry
        refresh = token.get("refresh_token") or token.get("refreshToken")
        if isinstance(refresh, str) and refresh:
            email = entry.get("email") or token.get("email") or ""
            return Credential(refresh, str(email), str(token.get("project_id") or ""))
    raise ImportFormatError(f"{source}: an entry has no refresh_token; expected {FORMATS}")


def enroll(
    store: Store, route: Route, credential: Credential, keep_revoked: bool = True, proxy: str | None = None
) -> Enrolled:
    """Verify a credential against Google through `route` and store the account: active, or disabled with the
    reason; with `proxy` (a stored egress value, accounts/egress.py) it is stored with the account.

    A revoked token is stored disabled (so an import shows which ones failed) unless keep_revoked is off.
    """
    oauth, client = route.oauth, route.client
    egress = {} if proxy is None else {"proxy": proxy}
    try:
        grant = oauth.refresh(credential.refresh_token)
    except InvalidGrant as exc:
        if not keep_revoked:
            raise
        if not credential.email:
            return Enrolled(None, f"skipped: token revoked ({exc}) and no email to file it under")
        account = store.upsert(
            credential.email, credential.refresh_token, enabled=0, disabled_reason=str(exc), **egress
        )
        return Enrolled(account, f"disabled: {exc}")
    email = credential.email or oauth.email(grant.access_token)
    fields: dict = {"access_token": grant.access_token, "token_expiry": grant.expires_at, **egress}
    note = ""
    try:
        project, tier = (credential.project, "") if credential.project else discover(client, grant.access_token)
        fields.update(project=project, tier=tier, enabled=1, disabled_reason="")
    except NoProject as exc:
        fields.update(enabled=0, disabled_reason=f"no project: {exc}")
    except UpstreamError as exc:
        # Google is unreachable or busy: keep the account; its project is found on first use.
        fields.update(enabled=1, disabled_reason="")
        note = f"; project lookup deferred ({exc.message})"
    # Unreachable quota: the built-in catalog stands in until it can be fetched.
    with contextlib.suppress(UpstreamError):
        fields["models"] = fetch_models(client, grant.access_token, fields.get("project", ""))
    account = store.upsert(email, credential.refresh_token, **fields)
    if not account.enabled:
        return Enrolled(account, f"disabled: {account.disabled_reason}")
    return Enrolled(account, f"active (project {account.project or '?'}, {len(account.models)} models){note}")
