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
        return [_credential(_load(file), str(file)) for file in files]
    payload = _load(path)
    if isinstance(payload, dict) and isinstance(payload.get("accounts"), list):
        payload = payload["accounts"]
    if not isinstance(payload, list):
        return [_credential(payload, str(path))]
    if not payload:
        raise ImportFormatError(f"{path} holds no accounts: its list is empty")
    return [_credential(entry, f"{path}: entry {number}") for number, entry in enumerate(payload, 1)]


def _load(path: Path) -> object:
    try:
        # Antigravity-Manager tolerates a BOM; so do we.
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"{path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected {FORMATS}"
        ) from None
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path} is not JSON (not UTF-8 text); expected {FORMATS}") from None


def _credential(entry: object, where: str) -> Credential:
    """The credential in one entry; `where` names the entry (file, and number in a list) for errors."""
    if not isinstance(entry, dict):
        raise ImportFormatError(f"{where} has no refresh_token (it is not an object); expected {FORMATS}")
    token = entry.get("token") if isinstance(entry.get("token"), dict) else entry
    refresh = token.get("refresh_token") or token.get("refreshToken")
    email = str(entry.get("email") or token.get("email") or "")
    if not isinstance(refresh, str) or not refresh:
        named = f" ({email})" if email else ""
        raise ImportFormatError(f"{where}{named} has no refresh_token; expected {FORMATS}")
    return Credential(refresh, email, str(token.get("project_id") or ""))


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
