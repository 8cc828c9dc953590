"""`gateway accounts ...`: manage the pool's Google accounts (the command's frame is in commandline.py)."""

from __future__ import annotations

import functools
import json
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
from flask.cli import with_appcontext

from .accounts import login as signin
from .accounts.actions import fetch_quota, set_enabled
from .accounts.egress import EgressError, Route, mask, parse_proxy
from .accounts.importer import Credential, ImportFormatError, enroll, read_credentials
from .accounts.oauth import InvalidGrant, OAuthError
from .accounts.pool import AccountUnavailable
from .accounts.report import describe_all, iso, quota_lines, summary_line
from .accounts.store import Account
from .audit import cli_actor, record
from .audit_cli import audit
from .commandline import cli, creates_database, echo_rows, run
from .keys.cli import keys
from .services import services
from .upstream.errors import RouteFailed

NO_ACCOUNTS = "add some with `gateway accounts import FILE` or `gateway accounts login`"


accounts = click.Group("accounts", help="Manage the Google accounts the gateway serves from.", no_args_is_help=False)


def _find(ref: str) -> Account:
    account = services().store.find(ref)
    if account is None:
        raise click.ClickException(f"no account {ref!r} (give an email or the id `gateway accounts list` shows)")
    return account


def _proxy_value(value: str | None) -> str | None:
    """The stored egress for a --proxy option (None when not given: nothing changes)."""
    if value is None:
        return None
    try:
        return parse_proxy(value)
    except EgressError as exc:
        raise click.ClickException(str(exc)) from None


PROXY_OPTION = click.option(
    "--proxy", default=None, help="Egress for these accounts: a proxy URL (http, https, socks5, socks5h) or `none`."
)


def _route(credential: Credential, proxy: str | None) -> Route:
    """The egress to verify a credential through: the one given, else the one an account already stored keeps."""
    gateway = services()
    known = gateway.store.find(credential.email) if proxy is None and credential.email else None
    return gateway.egresses.for_proxy(known.proxy if known else proxy)


def _enroll_one(credential: Credential, keep_revoked: bool, action: str, proxy: str | None = None) -> Account:
    gateway = services()
    try:
        route = _route(credential, proxy)
        result = enroll(gateway.store, route, credential, keep_revoked=keep_revoked, proxy=proxy)
    except InvalidGrant as exc:
        raise click.ClickException(f"the refresh token is invalid or revoked ({exc}); nothing was stored") from None
    except OAuthError as exc:
        raise click.ClickException(f"could not verify the token: {exc}") from None
    record(cli_actor(), action, result.account.email)
    click.echo(f"{result.account.email}: {result.note}")
    return result.account


@creates_database
@accounts.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@PROXY_OPTION
@click.option(
    "--keep-disabled",
    is_flag=True,
    help="Store an account whose token Google refuses, disabled with the reason (default: store nothing).",
)
@with_appcontext
def import_command(source: Path, keep_disabled: bool, proxy: str | None) -> None:
    """Import an export file (JSON) or an Antigravity-Manager data folder, verifying each token."""
    proxy = _proxy_value(proxy)
    try:
        credentials = read_credentials(source)
    except ImportFormatError as exc:
        raise click.ClickException(str(exc)) from None
    gateway = services()
    active = stored_disabled = 0
    for number, credential in enumerate(credentials, 1):
        label = credential.email or f"entry {number}"
        try:
            result = enroll(
                gateway.store, _route(credential, proxy), credential, keep_revoked=keep_disabled, proxy=proxy
            )
        except InvalidGrant as exc:
            click.echo(f"[{number}/{len(credentials)}] {label}: not stored: {exc} (--keep-disabled keeps it disabled)")
            continue
        except OAuthError as exc:
            click.echo(f"[{number}/{len(credentials)}] {label}: not stored: {exc}")
            continue
        email = result.account.email if result.account else label
        if result.account is not None:
            record(cli_actor(), "accounts import", email)
            active += result.account.enabled
            stored_disabled += not result.account.enabled
        click.echo(f"[{number}/{len(credentials)}] {email}: {result.note}")
    if not active:
        stored = f"{stored_disabled} stored disabled (`gateway accounts list` shows why)" if stored_disabled else ""
        raise click.ClickException(f"no account could be activated; {stored or 'nothing was stored'}")


@creates_database
@accounts.command("add")
@click.option("--refresh-token", required=True, help="The account's OAuth refresh token.")
@click.option("--email", default="", help="The account's email (looked up when omitted).")
@PROXY_OPTION
@with_appcontext
def add_command(refresh_token: str, email: str, proxy: str | None) -> None:
    """Add one account from its refresh token; a revoked token is refused and nothing stored."""
    _enroll_one(Credential(refresh_token, email), keep_revoked=False, action="accounts add", proxy=_proxy_value(proxy))


@accounts.command("set")
@click.argument("account")
@click.option(
    "--proxy",
    required=True,
    help="The account's egress: a proxy URL (http, https, socks5, socks5h), `default` "
    "(GATEWAY_UPSTREAM_PROXY) or `none` (direct).",
)
@with_appcontext
def set_command(account: str, proxy: str) -> None:
    """Change an account's settings (by email or id): the proxy its calls to Google go through."""
    found = _find(account)
    value = _proxy_value(proxy)
    services().store.update(found.id, proxy=value)
    record(cli_actor(), "accounts set", found.email)  # never the proxy: its URL may hold a password
    click.echo(f"{found.email}: proxy {mask(value) or 'default (GATEWAY_UPSTREAM_PROXY)'}")


@creates_database
@accounts.command("login")
@click.option("--no-browser", is_flag=True, help="Print the sign-in URL and read the code back (headless servers).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=signin.WAIT_SECONDS,
    show_default=True,
    help="Seconds to wait for the browser's sign-in before giving up.",
)
@with_appcontext
def login_command(no_browser: bool, timeout: float) -> None:
    """Sign in with Google in a browser and add that account."""
    gateway = services()
    try:
        if no_browser:
            auth = signin.authorization(gateway.settings, signin.PASTE_REDIRECT)
            click.echo(f"Open this URL in any browser and sign in:\n\n  {auth.url}\n")
            click.echo("The browser then fails to load a localhost page: copy that page's full URL.")
            code = signin.code_from(click.prompt("Paste the URL (or just the code)"), auth.state)
        else:
            callback = signin.CallbackServer()
            auth = signin.authorization(gateway.settings, callback.redirect_uri)
            if not webbrowser.open(auth.url):
                callback.close()
                raise click.ClickException(
                    "no browser can be opened on this machine; on a headless server run "
                    "`gateway accounts login --no-browser`: it prints a URL to open in any browser and reads "
                    "the page it lands on back"
                )
            click.echo(f"Sign in with Google in the browser. If none opened, visit:\n\n  {auth.url}\n")
            click.echo(f"Waiting up to {timeout:g} s for the sign-in to come back to this machine...")
            code = callback.wait_for_code(auth.state, timeout)
        refresh_token = gateway.oauth.exchange_code(code, auth.redirect_uri, auth.verifier)
    except (signin.LoginError, OAuthError) as exc:
        raise click.ClickException(f"sign-in failed: {exc}") from None
    _enroll_one(Credential(refresh_token), keep_revoked=False, action="accounts login")


@accounts.command("export")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file (0600) instead of stdout.")
@with_appcontext
def export_command(output: Path | None) -> None:
    """Export every account in Antigravity-Manager's format. The output holds refresh tokens: keep it secret."""
    payload = {"accounts": [{"email": a.email, "refresh_token": a.refresh_token} for a in services().store.accounts()]}
    text = json.dumps(payload, indent=2)
    if output is None:
        click.echo(text)
    else:
        output.touch(mode=0o600)
        output.write_text(text + "\n")
        click.echo(f"exported {len(payload['accounts'])} accounts to {output}", err=True)


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, for scripts.")
@with_appcontext
def list_command(as_json: bool) -> None:
    """Show every account: state, project, tier, cooldowns, quota and usage (never a token)."""
    gateway = services()
    rows = describe_all(gateway.store, gateway.clock())
    echo_rows(rows, as_json, f"no accounts; {NO_ACCOUNTS}", lambda row: (summary_line(row), *quota_lines(row)))


@accounts.command("enable")
@click.argument("account")
@with_appcontext
def enable_command(account: str) -> None:
    """Put an account back into service (by email or id)."""
    _set_enabled(account, True)


@accounts.command("disable")
@click.argument("account")
@with_appcontext
def disable_command(account: str) -> None:
    """Take an account out of service without forgetting it (by email or id)."""
    _set_enabled(account, False)


def _set_enabled(ref: str, enabled: bool) -> None:
    found = _find(ref)
    set_enabled(services().pool, found, enabled)
    record(cli_actor(), f"accounts {'enable' if enabled else 'disable'}", found.email)
    click.echo(f"{'enabled' if enabled else 'disabled'} {found.email}")


@accounts.command("remove")
@click.argument("account")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def remove_command(account: str, yes: bool) -> None:
    """Forget an account and its refresh token (by email or id)."""
    found = _find(account)  # before asking: no confirming the removal of an account that is not there
    if not yes:
        click.confirm(f"Forget {found.email} and its refresh token?", abort=True)
    services().store.remove(found.id)
    record(cli_actor(), "accounts remove", found.email)
    click.echo(f"removed {found.email}")


@accounts.command("refresh")
@click.argument("account", required=False)
@with_appcontext
def refresh_command(account: str | None) -> None:
    """Get a new access token now, for one account or all enabled ones."""
    gateway = services()
    targets = [_find(account)] if account else _enabled(gateway.store.accounts(), "to refresh")
    failed = 0
    for target in targets:
        try:
            fresh = gateway.pool.refresh(target)
            click.echo(f"{target.email}: token valid until {iso(fresh.token_expiry)}")
        except (AccountUnavailable, RouteFailed) as exc:  # RouteFailed: the proxy or TLS, named in its message
            failed += 1
            reason = (gateway.store.get(target.id) or target).disabled_reason or exc.message
            click.echo(f"{target.email}: refresh failed ({reason})")
    if failed:
        raise click.ClickException(f"accounts not refreshed: {failed} of {len(targets)}")


def _enabled(accounts: tuple[Account, ...], purpose: str) -> list[Account]:
    """The enabled accounts; having none deserves a sentence, not silence."""
    if not accounts:
        raise click.ClickException(f"no accounts {purpose}; {NO_ACCOUNTS}")
    enabled = [a for a in accounts if a.enabled]
    if not enabled:
        raise click.ClickException(f"no enabled account {purpose} (`gateway accounts enable EMAIL` puts one back)")
    return enabled


@accounts.command("quota")
@with_appcontext
def quota_command() -> None:
    """Fetch every enabled account's models and remaining quota (in parallel) and store them."""
    gateway = services()
    targets = _enabled(gateway.store.accounts(), "to fetch quota for")
    with ThreadPoolExecutor(max_workers=8) as workers:
        errors = list(workers.map(functools.partial(fetch_quota, gateway.pool), targets))
    rows = {row["id"]: row for row in describe_all(gateway.store, gateway.clock())}
    for account, error in zip(targets, errors, strict=True):
        click.echo(f"{account.email}: {error or 'ok'}")
        for line in [] if error else quota_lines(rows[account.id]):
            click.echo(line)


cli.add_command(accounts)
cli.add_command(keys)
cli.add_command(audit)


def main(args: list[str] | None = None) -> None:
    """The console command `gateway`."""
    run(cli, args)
