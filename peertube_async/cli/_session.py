"""Accounts: which instance and user a command acts as, and the signed-in client.

Tokens live in a :class:`~peertube_async.FileTokenStore` (``tokens.json``); beside it,
``tokens.accounts.json`` keeps what is not secret: the default account and each
account's role as last seen. Passwords are never written anywhere.

Where a command takes them from, first found wins:

* instance: ``--url``, ``$PEERTUBE_URL``, the default account's instance;
* user: ``--user``, ``$PEERTUBE_USER``, the default account's user when the instance is
  the default one, else the only account stored for the instance;
* password (only when no stored sign-in still works): ``--password`` (with a warning:
  it shows in the process list), ``--password-file`` / ``$PEERTUBE_PASSWORD_FILE``,
  ``$PEERTUBE_PASSWORD``, a prompt on a terminal.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._base import EXIT_AUTH, EXIT_USAGE, Failure, err, token_store_option

if TYPE_CHECKING:
    from .._auth import FileTokenStore
    from .._client import PeerTube

__all__ = [
    "Account",
    "Accounts",
    "Credentials",
    "account_options",
    "default_token_store",
    "role_label",
    "signed_in",
]

F = TypeVar("F", bound=Callable[..., Any])

_ROLES = {0: "Administrator", 1: "Moderator", 2: "User"}


def role_label(role: int | None) -> str:
    """``Administrator``, ``Moderator``, ``User``; ``?`` when unknown."""
    return _ROLES.get(role, "?") if role is not None else "?"


def default_token_store() -> Path:
    """``$PEERTUBE_TOKEN_STORE``, else ``$XDG_CONFIG_HOME/peertube-async/tokens.json``."""
    configured = os.environ.get("PEERTUBE_TOKEN_STORE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join("~", ".config")
    return Path(base).expanduser() / "peertube-async" / "tokens.json"


def normalize_url(url: str) -> str:
    """An instance's origin (``https://host``); a bare host means https."""
    from .._client import normalize_instance_url

    return str(normalize_instance_url(url))


@dataclass(frozen=True)
class Account:
    """One instance and user."""

    origin: str
    user: str

    @property
    def key(self) -> str:
        """How the account is named in the files (as the token store names it)."""
        return f"{self.origin} {self.user}"


class Accounts:
    """The non-secret side of the token store: default account and last known roles."""

    def __init__(self, token_store: Path) -> None:
        self.token_store = token_store
        self.path = token_store.with_name(token_store.stem + ".accounts.json")

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise Failure(f"{self.path} is unreadable: {exc}", EXIT_USAGE) from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    @property
    def default(self) -> Account | None:
        """The account commands use when given no instance."""
        value = self._read().get("default")
        if not isinstance(value, str) or " " not in value:
            return None
        origin, _, user = value.partition(" ")
        return Account(origin, user)

    def set_default(self, account: Account | None) -> None:
        """Make ``account`` the default (None: no default)."""
        data = self._read()
        if account is None:
            data.pop("default", None)
        else:
            data["default"] = account.key
        self._write(data)

    def role(self, account: Account) -> int | None:
        """The role last seen for ``account``."""
        seen = self._read().get("roles", {})
        value = seen.get(account.key) if isinstance(seen, dict) else None
        return value if isinstance(value, int) else None

    def remember(self, account: Account, role: int | None) -> None:
        """Keep ``account``'s role; the first account stored becomes the default."""
        data = self._read()
        roles = data.get("roles")
        roles = roles if isinstance(roles, dict) else {}
        changed = roles.get(account.key) != role or "default" not in data
        roles[account.key] = role
        data["roles"] = roles
        data.setdefault("default", account.key)
        if changed:
            self._write(data)

    def forget(self, account: Account) -> None:
        """Drop ``account``'s role, and the default if it was that account."""
        data = self._read()
        roles = data.get("roles")
        if isinstance(roles, dict):
            roles.pop(account.key, None)
        if data.get("default") == account.key:
            data.pop("default")
        self._write(data)


@dataclass
class Credentials:
    """What the options said about who to act as."""

    url: str | None
    user: str | None
    password: str | None
    password_file: Path | None
    token_store: Path | None

    @property
    def store_path(self) -> Path:
        """The token file in use."""
        return self.token_store or default_token_store()

    def store(self) -> FileTokenStore:
        """The token store."""
        from .._auth import FileTokenStore

        return FileTokenStore(self.store_path)

    def accounts(self) -> Accounts:
        """The default account and roles beside the token store."""
        return Accounts(self.store_path)

    async def account(self, *, required: bool = True) -> Account | None:
        """The instance and user to act as (``required``: a failure when there is none)."""
        accounts = self.accounts()
        default = accounts.default
        origin = normalize_url(self.url) if self.url else default.origin if default else None
        if origin is None:
            if not required:
                return None
            raise Failure(
                "no instance: give --url (or $PEERTUBE_URL), or sign in with "
                "`peertube-async auth add` to have a default",
                EXIT_USAGE,
            )
        user = self.user
        if user is None and default is not None and default.origin == origin:
            user = default.user
        if user is None:
            users = [u for o, u, _ in await self.store().entries() if o == origin]
            if len(users) == 1:
                user = users[0]
            elif not required:
                return None
            else:
                hint = f" (stored: {', '.join(users)})" if users else ""
                raise Failure(
                    f"which user at {origin}? give --user (or $PEERTUBE_USER){hint}",
                    EXIT_USAGE,
                )
        return Account(origin, user)

    def given_password(self) -> str | None:
        """The password from the options or the environment, if any (never prompted)."""
        if self.password is not None:
            return self.password
        path = self.password_file
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise Failure(f"cannot read the password file: {exc}", EXIT_USAGE) from None
            return text.rstrip("\r\n")
        return os.environ.get("PEERTUBE_PASSWORD") or None

    def password_for(self, account: Account, *, prompt: bool = False) -> str:
        """The password, prompting on a terminal (``prompt``: even from a pipe); a failure
        when there is none."""
        given = self.given_password()
        if given is not None:
            return given
        if prompt or sys.stdin.isatty():
            value: str = click.prompt(
                f"Password of {account.user} at {account.origin}", hide_input=True, err=True
            )
            return value
        raise Failure(
            f"not signed in as {account.user} at {account.origin}, and no password: give "
            "--password-file (or $PEERTUBE_PASSWORD), or run `peertube-async auth add`",
            EXIT_AUTH,
        )


def _warn_password(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        err(
            "warning: a password on the command line shows in the process list and the "
            "shell history; prefer --password-file or $PEERTUBE_PASSWORD"
        )
    return value


def account_options(func: F) -> F:
    """``--url``, ``--user``, ``--password``, ``--password-file``, ``--token-store``,
    gathered into one ``creds`` argument."""

    @functools.wraps(func)
    def gather(**kwargs: Any) -> Any:
        kwargs["creds"] = Credentials(
            url=kwargs.pop("url"),
            user=kwargs.pop("user"),
            password=kwargs.pop("password"),
            password_file=kwargs.pop("password_file"),
            token_store=kwargs.pop("token_store"),
        )
        return func(**kwargs)

    wrapped: Any = token_store_option(gather)
    wrapped = click.option(
        "--password-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        envvar="PEERTUBE_PASSWORD_FILE",
        help="read the password from this file (first line) [env: PEERTUBE_PASSWORD_FILE]",
    )(wrapped)
    wrapped = click.option(
        "--password",
        "-p",
        metavar="PASSWORD",
        callback=_warn_password,
        expose_value=True,
        help="password (shows in the process list: prefer --password-file or $PEERTUBE_PASSWORD)",
    )(wrapped)
    wrapped = click.option(
        "--user",
        "--username",
        "-U",
        "user",
        metavar="USER",
        envvar="PEERTUBE_USER",
        help="user name (default: the default account's) [env: PEERTUBE_USER]",
    )(wrapped)
    wrapped = click.option(
        "--url",
        "-u",
        metavar="URL",
        envvar="PEERTUBE_URL",
        help="instance (default: the default account's) [env: PEERTUBE_URL]",
    )(wrapped)
    return wrapped  # type: ignore[no-any-return]


async def _sign_in(pt: PeerTube, creds: Credentials, account: Account) -> None:
    from .._auth import AuthError

    store = creds.store()
    stored = await store.load(account.origin, account.user)
    now = time.time()
    usable = stored is not None and (stored.access_valid(now) or stored.refresh_valid(now))
    password = "" if usable else creds.password_for(account)
    try:
        await pt.login(account.user, password)
    except AuthError:
        # A stored pair revoked elsewhere is dropped by the failed refresh: sign in anew
        # when there is a password to do it with.
        given = creds.given_password() if usable else None
        if given is None:
            raise
        await pt.login(account.user, given)
    creds.accounts().remember(account, pt.role)


@contextlib.asynccontextmanager
async def signed_in(
    creds: Credentials, *, anonymous_ok: bool = False
) -> AsyncIterator[tuple[PeerTube, Account | None]]:
    """A client of the account's instance, signed in as its user (``anonymous_ok``: not
    signed in when no user is known for the instance)."""
    from .._client import PeerTube

    account = await creds.account(required=not anonymous_ok)
    if account is None:
        if not creds.url:
            raise Failure("no instance: give --url (or $PEERTUBE_URL)", EXIT_USAGE)
        async with PeerTube(normalize_url(creds.url)) as pt:
            yield pt, None
        return
    async with PeerTube(account.origin, token_store=creds.store()) as pt:
        await _sign_in(pt, creds, account)
        yield pt, account
