"""The console's routes: the page, its login, its JSON, and the account buttons."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for

from ..accounts.actions import fetch_quota, set_enabled
from ..accounts.report import describe_all, iso
from ..audit import console_actor
from ..config import Settings
from ..errors import GatewayError, json_response
from ..keys.manage import find, issue, revoke
from ..keys.store import NameTaken
from ..services import services
from . import access
from .forms import key_options
from .state import SharedState, pool_state, with_egress
from .throttle import client_address

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

# No inline script or style, nothing from elsewhere, never framed: a page that could be tricked into
# running someone else's script would hold the operator's buttons.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ACTIONS = ("enable", "disable", "quota")


@bp.record_once
def _share_state(setup) -> None:
    setup.app.extensions["console_state"] = SharedState()


def _settings() -> Settings:
    """The settings as the console applies them: GATEWAY_AUTH_MODE=auto is off only while no key exists at
    all, so once a team key does, auth is on here too (and, with no GATEWAY_API_KEY, the console stays shut)."""
    gateway = services()
    settings = gateway.settings
    if settings.auth_mode == "off" and settings.auth_auto and gateway.keys.exist():
        return dataclasses.replace(settings, auth_mode="all_except_health")
    return settings


@bp.before_request
def guard() -> None:
    """Who may reach it first, then the CSRF token of every POST; pages check the login themselves."""
    settings = _settings()
    access.check_reachable(settings)
    g.console_session = access.current_session(settings)
    if request.method == "POST":
        access.check_csrf(settings, g.console_session)


@bp.after_request
def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    fresh = g.get("new_console_session")
    if fresh is not None:
        access.set_cookie(response, _settings(), fresh)
    return response


def _session() -> access.Session:
    """This browser's session, opened now if it has none (the login form's CSRF token needs one)."""
    if g.console_session is None:
        g.console_session = g.new_console_session = access.new_session(admin=False)
    return g.console_session


def _authorized() -> bool:
    return access.authorized(_settings(), g.console_session)


@bp.app_template_filter("utc")
def utc(timestamp: float) -> str:
    """Epoch seconds as the CLI prints times (UTC, ISO 8601); the page adds the local time on hover."""
    return iso(timestamp)


@bp.get("")
def page() -> Response | str:
    if not _authorized():
        return redirect(url_for("console.login"), 303)
    gateway = services()
    return render_template(
        "console.html",
        state=pool_state(gateway, gateway.clock()),
        csrf=access.csrf_token(_settings(), _session()),
        auth=_settings().auth_mode != "off",
    )


@bp.get("/")
def trailing_slash() -> Response:
    return redirect(url_for("console.page"), 308)


@bp.get("/login")
def login() -> Response | str:
    settings = _settings()
    if settings.auth_mode == "off" or _authorized():
        return redirect(url_for("console.page"), 303)
    return render_template("login.html", csrf=access.csrf_token(settings, _session()), failed=False)


@bp.post("/login")
def login_submit() -> Response | tuple:
    settings = _settings()
    if settings.auth_mode == "off":
        return redirect(url_for("console.page"), 303)
    throttle, address = services().login_throttle, client_address(settings.forwarded_allow_ips)
    wait = throttle.retry_after(address)
    if wait:
        page = render_template("login.html", csrf=access.csrf_token(settings, _session()), wait=wait)
        return page, 429, {"Retry-After": str(wait)}
    if not access.admin_key_matches(settings, request.form.get("key", "")):
        throttle.failed(address)
        page = render_template("login.html", csrf=access.csrf_token(settings, _session()), failed=True)
        return page, 401
    throttle.succeeded(address)
    g.new_console_session = access.new_session(admin=True)  # a new id: nothing from before the login carries over
    return redirect(url_for("console.page"), 303)


@bp.post("/logout")
def logout() -> Response:
    response = redirect(url_for("console.login"), 303)
    access.clear_cookie(response)
    return response


@bp.get("/api/state")
def state() -> Response:
    _require_login()
    body = current_app.extensions["console_state"].body(services())
    return Response(body, content_type="application/json; charset=UTF-8")


@bp.get("/templates")
def templates() -> str:
    """What console.js clones for accounts, cooldowns and quota bars that appear later. Kept out of the page,
    whose markup scripts and tests read: every `data-account`, `data-action` and `<meter>` there is a real one."""
    _require_login()
    return render_template("templates.html", csrf=access.csrf_token(_settings(), _session()))


@bp.post("/api/accounts/<int:account_id>/<action>")
def account_action(account_id: int, action: str) -> Response:
    _require_login()
    if action not in ACTIONS:
        abort(404)
    gateway = services()
    account = gateway.store.get(account_id)
    if account is None:
        raise GatewayError(404, f"No account {account_id}.")
    error = ""
    if action == "quota":
        error = fetch_quota(gateway.pool, account)
    else:
        set_enabled(gateway.pool, account, action == "enable")
    gateway.audit.record(_actor(), f"accounts {action}", account.email)
    if request.accept_mimetypes.best != "application/json":
        return redirect(url_for("console.page"), 303)  # a plain form post, without the script
    row = next(r for r in with_egress(gateway, describe_all(gateway.store, gateway.clock())) if r["id"] == account_id)
    return json_response({"account": row, "error": error})


@bp.post("/api/keys")
def create_key() -> Response | str:
    """The create-key form: the new key is in this answer, and never again (as `gateway keys create`)."""
    _require_login()
    gateway = services()
    form = request.form
    try:
        options = key_options(form)
        key, secret = issue(gateway.keys.backend, form.get("name", "").strip(), **options)
    except NameTaken:
        raise GatewayError(
            400, f"A key named {form.get('name')!r} exists already; revoke it or pick another name."
        ) from None
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from None
    gateway.audit.record(_actor(), "keys create", key.name)
    created = {"name": key.name, "id": key.id, "key": secret, "prefix": key.prefix}
    if request.accept_mimetypes.best != "application/json":
        return render_template("key_created.html", created=created)  # a plain form post, without the script
    return json_response(created)


@bp.post("/api/keys/<int:key_id>/revoke")
def revoke_key(key_id: int) -> Response:
    _require_login()
    gateway = services()
    found = find(gateway.keys.backend, str(key_id))
    if found is None:
        raise GatewayError(404, f"No team key {key_id}.")
    revoke(gateway.keys.backend, found)
    gateway.audit.record(_actor(), "keys revoke", found.name)
    if request.accept_mimetypes.best != "application/json":
        return redirect(url_for("console.page"), 303)
    return json_response({"revoked": found.name})


@bp.post("", defaults={"rest": ""})
@bp.post("/<path:rest>")
def no_such_action(rest: str) -> Response:
    """Any other POST under /console: refused for its missing token by guard() first, as every POST is."""
    abort(405 if not rest else 404)


def _actor() -> str:
    return console_actor(client_address(_settings().forwarded_allow_ips))


def _require_login() -> None:
    if not _authorized():
        raise GatewayError(401, "Log in to the console first (/console/login).")
