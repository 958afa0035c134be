"""Accounts: ``auth add/del/list/set-default``, ``login``, ``logout``, ``whoami`` and
``get-access-token``.

Signing in keeps the OAuth pair in the token store, never the password; ``auth list``
shows instances, users, roles and expiry dates, never a token.
"""

from __future__ import annotations

import contextlib
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from ._base import (
    CONTEXT,
    EXIT_AUTH,
    EXIT_CODES,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    command,
    err,
    json_option,
    print_json,
    token_store_option,
)
from ._lists import Column, emit, unstructure
from ._session import (
    Account,
    Credentials,
    account_options,
    normalize_url,
    role_label,
    signed_in,
)

__all__ = ["auth", "get_access_token", "login", "logout", "whoami"]


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
def auth() -> None:
    """Accounts on several instances: add, del, list, set-default.

    The first account added is the default one: commands given no --url act as it.
    Tokens are kept in the token store (mode 0600), passwords nowhere.
    """


async def _add(creds: Credentials, otp: str | None, make_default: bool) -> Account:
    """Sign in (reusing a stored sign-in that still works) and remember the account."""
    from .._auth import TwoFactorRequired
    from .._client import PeerTube

    account = await creds.account()
    assert account is not None
    store = creds.store()
    stored = await store.load(account.origin, account.user)
    now = time.time()
    usable = stored is not None and (stored.access_valid(now) or stored.refresh_valid(now))
    password = "" if usable else creds.password_for(account, prompt=True)
    async with PeerTube(account.origin, token_store=store) as pt:
        try:
            await pt.login(account.user, password, otp=otp)
        except TwoFactorRequired:
            if otp is not None or not sys.stdin.isatty():
                raise
            code = click.prompt("Two-factor code", err=True)
            await pt.login(account.user, password, otp=code)
        role = pt.role
    accounts = creds.accounts()
    accounts.remember(account, role)
    if make_default:
        accounts.set_default(account)
    return account


def _ask(value: str | None, what: str) -> str:
    if value:
        return value
    if not sys.stdin.isatty():
        raise Failure(f"{what} is missing: give it as an option", EXIT_USAGE)
    answer: str = click.prompt(what.capitalize(), err=True)
    return answer


@auth.command("add", context_settings=CONTEXT, epilog=EXIT_CODES)
@account_options
@click.option("--otp", metavar="CODE", help="two-factor code, if the account uses it")
@click.option("--default", "make_default", is_flag=True, help="make it the default account")
@command
async def auth_add(creds: Credentials, otp: str | None, make_default: bool) -> int:
    """Sign in to an instance and remember the account.

    Asks for what is missing (instance, user, password) on a terminal. A stored sign-in
    that still works is reused instead of spending the login budget (15 attempts per
    5 minutes).
    """
    creds.url = _ask(creds.url, "instance URL")
    creds.user = _ask(creds.user, "user name")
    account = await _add(creds, otp, make_default)
    default = creds.accounts().default
    note = " (default)" if default == account else ""
    click.echo(f"signed in as {account.user} at {account.origin}{note}")
    return EXIT_OK


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("url")
@click.argument("user")
@click.option("--otp", metavar="CODE", help="two-factor code, if the account uses it")
@token_store_option
@command
async def login(url: str, user: str, otp: str | None, token_store: Path | None) -> int:
    """Sign in to URL as USER and store the sign-in for later commands.

    The same as `auth add --url URL --user USER`. The password comes from
    $PEERTUBE_PASSWORD, else a prompt. A stored token that still works is reused instead
    of spending the login budget (15 attempts per 5 minutes).
    """
    creds = Credentials(url=url, user=user, password=None, password_file=None, token_store=None)
    creds.token_store = token_store
    account = await _add(creds, otp, make_default=False)
    click.echo(f"signed in as {account.user} at {account.origin}; tokens in {creds.store_path}")
    return EXIT_OK


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@auth.command("list", context_settings=CONTEXT, epilog=EXIT_CODES)
@token_store_option
@json_option
@command
async def auth_list(token_store: Path | None, as_json: bool) -> int:
    """List the accounts: instance, user, role, when the sign-in expires (never a
    token). The default account is marked with *."""
    creds = Credentials(None, None, None, None, token_store)
    accounts = creds.accounts()
    default = accounts.default
    now = time.time()
    rows: list[dict[str, Any]] = []
    for origin, user, pair in await creds.store().entries():
        account = Account(origin, user)
        usable = pair.access_valid(now) or pair.refresh_valid(now)
        rows.append(
            {
                "instance": origin,
                "user": user,
                "role": role_label(accounts.role(account)),
                "default": account == default,
                "access_expires_at": _when(pair.expires_at),
                "refresh_expires_at": _when(pair.refresh_expires_at),
                "signed_in": usable,
            }
        )
    columns = (
        Column("", lambda r: "*" if r["default"] else "", 1),
        Column("instance", lambda r: r["instance"], 32),
        Column("user", lambda r: r["user"], 16),
        Column("role", lambda r: r["role"], 13),
        Column("access until", lambda r: r["access_expires_at"], 20),
        Column("refresh until", lambda r: r["refresh_expires_at"], 20),
        Column("state", lambda r: "signed in" if r["signed_in"] else "expired"),
    )
    emit(rows, columns, as_json, to_json=lambda r: r)
    if not rows and not as_json:
        err("no account: add one with `peertube-async auth add`")
    return EXIT_OK


async def _forget(creds: Credentials, account: Account) -> bool:
    """Revoke the stored sign-in (best effort) and forget it; whether there was one."""
    from .._client import PeerTube
    from .._errors import PeerTubeError

    store = creds.store()
    pair = await store.load(account.origin, account.user)
    now = time.time()
    if pair is not None and (pair.access_valid(now) or pair.refresh_valid(now)):
        # An instance that cannot be reached, or refuses the pair, is no obstacle to
        # forgetting it here.
        with contextlib.suppress(PeerTubeError):
            async with PeerTube(account.origin, token_store=store, retries=0) as pt:
                await pt.login(account.user, "")
                await pt.logout()
    await store.delete(account.origin, account.user)
    creds.accounts().forget(account)
    return pair is not None


@auth.command("del", context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("url")
@click.option("--user", "-U", metavar="USER", help="only this user (default: every user)")
@token_store_option
@command
async def auth_del(url: str, user: str | None, token_store: Path | None) -> int:
    """Forget the accounts of URL (or only USER's), revoking their sign-ins."""
    creds = Credentials(url, user, None, None, token_store)
    origin = normalize_url(url)
    stored = [u for o, u, _ in await creds.store().entries() if o == origin]
    users = [user] if user else stored
    if not users or (user and user not in stored):
        raise Failure(f"no account {user or ''}{'@' if user else ''}{origin} is stored", EXIT_USAGE)
    for name in users:
        await _forget(creds, Account(origin, name))
        click.echo(f"forgot {name} at {origin}")
    return EXIT_OK


@auth.command("set-default", context_settings=CONTEXT, epilog=EXIT_CODES)
@click.argument("url")
@click.option("--user", "-U", metavar="USER", help="the user (needed when URL has several)")
@token_store_option
@command
async def auth_set_default(url: str, user: str | None, token_store: Path | None) -> int:
    """Make a stored account the default one."""
    creds = Credentials(url, user, None, None, token_store)
    origin = normalize_url(url)
    stored = [u for o, u, _ in await creds.store().entries() if o == origin]
    if user is None and len(stored) == 1:
        user = stored[0]
    if user is None or user not in stored:
        known = f" (stored: {', '.join(stored)})" if stored else ""
        raise Failure(f"no such account at {origin}: give --user{known}", EXIT_USAGE)
    account = Account(origin, user)
    creds.accounts().set_default(account)
    click.echo(f"default account: {user} at {origin}")
    return EXIT_OK


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES)
@account_options
@command
async def logout(creds: Credentials) -> int:
    """Revoke the account's sign-in on the instance and forget it."""
    account = await creds.account()
    assert account is not None
    if await _forget(creds, account):
        click.echo(f"signed out {account.user} at {account.origin}")
    else:
        err(f"{account.user} at {account.origin} was not signed in")
    return EXIT_OK


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES)
@account_options
@json_option
@command
async def whoami(creds: Credentials, as_json: bool) -> int:
    """Show the signed-in user: name, role, channels, quota."""
    from ._format import format_bytes

    async with signed_in(creds) as (pt, account):
        assert account is not None
        me = await pt.me.get()
    if as_json:
        print_json({"instance": account.origin, **unstructure(me)})
        return EXIT_OK
    quota = "unlimited" if me.video_quota < 0 else format_bytes(me.video_quota)
    channels = ", ".join(c.name for c in me.video_channels or ()) or "-"
    for name, value in (
        ("instance", account.origin),
        ("user", me.username),
        ("role", role_label(int(me.role.id)) if me.role else "?"),
        ("email", me.email),
        ("channels", channels),
        ("quota", quota),
    ):
        click.echo(f"{name:>9}  {value}")
    return EXIT_OK


@click.command("get-access-token", context_settings=CONTEXT, epilog=EXIT_CODES)
@account_options
@command
async def get_access_token(creds: Credentials) -> int:
    """Print an access token of the account (for scripts).

    It is a secret: it goes to stdout only, for a script to capture. The stored sign-in
    is used (refreshed when near its end), else a new one is made with the password.
    """
    async with signed_in(creds) as (pt, _):
        tokens = pt.tokens
    if tokens is None:
        raise Failure("no token was issued", EXIT_AUTH)
    click.echo(tokens.access_token)
    return EXIT_OK
