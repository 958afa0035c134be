"""Signing in: OAuth password grant, refresh before expiry or on a 401, token stores.

PeerTube's token endpoint spends the ``login`` budget (15 per 5 minutes per address),
failed attempts included, so this module logs in once, refreshes rather than logs in
again, never retries a failed login, and sends exactly one refresh when many calls find
the token expired at once (single-flight behind one lock).

Tokens never appear in ``repr``, ``str``, exceptions or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import attrs

from ._bodies import FormBody
from ._errors import APIError, ErrorCode, PeerTubeError
from ._pipeline import Pipeline, decode_json

__all__ = [
    "AuthError",
    "Authenticator",
    "FileTokenStore",
    "MemoryTokenStore",
    "TokenPair",
    "TokenStore",
    "TwoFactorRequired",
]

logger = logging.getLogger("peertube_async.auth")

#: Roles as PeerTube numbers them.
ADMINISTRATOR, MODERATOR, USER = 0, 1, 2


class AuthError(PeerTubeError):
    """Signing in or refreshing failed; ``code`` is PeerTube's OAuth error code."""

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        self.code = code
        super().__init__(message)


class TwoFactorRequired(AuthError):
    """The account uses two-factor authentication: call ``login(..., otp="123456")``."""


@attrs.frozen
class TokenPair:
    """An access token and its refresh token, with their ends as UNIX times."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(default=None, repr=False)
    expires_at: float | None = None
    refresh_expires_at: float | None = None
    token_type: str = "Bearer"
    issued_at: float | None = None

    @classmethod
    def from_response(cls, data: Any, now: float) -> TokenPair:
        """From the token endpoint's snake_case answer, lifetimes read, never assumed."""
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise AuthError("the token endpoint answered without an access token")
        expires = data.get("expires_in")
        refresh_expires = data.get("refresh_token_expires_in")
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=now + float(expires) if isinstance(expires, (int, float)) else None,
            refresh_expires_at=(
                now + float(refresh_expires) if isinstance(refresh_expires, (int, float)) else None
            ),
            token_type=str(data.get("token_type") or "Bearer"),
            issued_at=now,
        )

    def to_dict(self) -> dict[str, Any]:
        """The pair as stored by :class:`FileTokenStore`."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TokenPair:
        """The pair from :meth:`to_dict`'s form."""
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise ValueError("not a stored token pair")
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=data.get("expires_at"),
            refresh_expires_at=data.get("refresh_expires_at"),
            token_type=str(data.get("token_type") or "Bearer"),
            issued_at=data.get("issued_at"),
        )

    def access_valid(self, now: float, margin: float = 0.0) -> bool:
        """Whether the access token is still good ``margin`` seconds from ``now``."""
        return self.expires_at is None or now + margin < self.expires_at

    def refresh_valid(self, now: float) -> bool:
        """Whether the refresh token can still be used."""
        if self.refresh_token is None:
            return False
        return self.refresh_expires_at is None or now < self.refresh_expires_at


class TokenStore(Protocol):
    """Where token pairs live between runs, keyed by instance origin and user name."""

    async def load(self, origin: str, username: str) -> TokenPair | None:
        """The stored pair, or None."""

    async def save(self, origin: str, username: str, tokens: TokenPair) -> None:
        """Store (or replace) the pair."""

    async def delete(self, origin: str, username: str) -> None:
        """Forget the pair."""


class MemoryTokenStore:
    """Keeps tokens for the life of the process (the default)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], TokenPair] = {}

    def __repr__(self) -> str:
        return f"<MemoryTokenStore {len(self._tokens)} entries>"

    async def load(self, origin: str, username: str) -> TokenPair | None:
        """The stored pair, or None."""
        return self._tokens.get((origin, username))

    async def save(self, origin: str, username: str, tokens: TokenPair) -> None:
        """Store (or replace) the pair."""
        self._tokens[(origin, username)] = tokens

    async def delete(self, origin: str, username: str) -> None:
        """Forget the pair."""
        self._tokens.pop((origin, username), None)


class FileTokenStore:
    """A JSON file holding tokens for any number of instances and users.

    Written atomically (a temporary file in the same folder, then a rename) with mode
    0600, under an advisory lock so that several processes can share it. The temporary
    file has one fixed name (``.NAME.tmp`` beside ``NAME``) and is only written under the
    lock: a process killed while writing leaves at most that one file, which the next
    write replaces and the next read removes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")

    def __repr__(self) -> str:
        return f"<FileTokenStore {str(self.path)!r}>"

    @staticmethod
    def _key(origin: str, username: str) -> str:
        return f"{origin} {username}"

    def _read(self) -> dict[str, Any]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise PeerTubeError(f"token store {self.path} is unreadable: {exc}") from None
        tokens = raw.get("tokens") if isinstance(raw, dict) else None
        return dict(tokens) if isinstance(tokens, dict) else {}

    def _write(self, tokens: dict[str, Any]) -> None:
        """Replace the file; only ever called under :meth:`_locked`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp
        # O_NOFOLLOW: a link planted under the fixed name is refused, never written.
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an older leftover may have had another mode
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"version": 1, "tokens": tokens}, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self, *, wait: bool = True) -> Any:
        """Hold the store's lock; with ``wait=False``, yield False at once when another
        process holds it."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _remove_leftover(self) -> None:
        """Delete a temporary file a killed writer left (never one being written)."""
        if not self._tmp.exists():
            return
        with self._locked(wait=False) as held:
            if held:
                with contextlib.suppress(FileNotFoundError):
                    self._tmp.unlink()

    def _update(self, key: str, value: dict[str, Any] | None) -> None:
        with self._locked():
            tokens = self._read()
            if value is None:
                if key not in tokens:
                    return
                tokens.pop(key)
            else:
                tokens[key] = value
            self._write(tokens)

    def _read_and_tidy(self) -> dict[str, Any]:
        self._remove_leftover()
        return self._read()

    async def load(self, origin: str, username: str) -> TokenPair | None:
        """The stored pair, or None (also when the entry is damaged)."""
        tokens = await asyncio.to_thread(self._read_and_tidy)
        entry = tokens.get(self._key(origin, username))
        if entry is None:
            return None
        try:
            return TokenPair.from_dict(entry)
        except ValueError:
            return None

    async def save(self, origin: str, username: str, tokens: TokenPair) -> None:
        """Store (or replace) the pair."""
        await asyncio.to_thread(self._update, self._key(origin, username), tokens.to_dict())

    async def entries(self) -> list[tuple[str, str, TokenPair]]:
        """Every stored ``(origin, username, pair)``, sorted; damaged entries left out."""
        tokens = await asyncio.to_thread(self._read_and_tidy)
        found: list[tuple[str, str, TokenPair]] = []
        for key, entry in sorted(tokens.items()):
            origin, sep, username = key.partition(" ")
            if not sep:
                continue
            try:
                found.append((origin, username, TokenPair.from_dict(entry)))
            except ValueError:
                continue
        return found

    async def delete(self, origin: str, username: str) -> None:
        """Forget the pair."""
        await asyncio.to_thread(self._update, self._key(origin, username), None)


class Authenticator:
    """The token of one client: login, refresh (single-flight), logout, storage."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        store: TokenStore | None = None,
        tokens: TokenPair | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pipeline = pipeline
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.tokens = tokens
        self.username: str | None = None
        self.role: int | None = None
        self._clock = clock
        self._lock = asyncio.Lock()
        self._client: tuple[str, str] | None = None
        #: The password of a login under way, kept out of exceptions meanwhile.
        self._password: str | None = None
        #: How many refresh requests were sent (for monitoring).
        self.refreshes = 0

    def __repr__(self) -> str:
        state = "signed in" if self.tokens else "anonymous"
        who = f" as {self.username}" if self.username else ""
        return f"<Authenticator {state}{who}>"

    # -- what the pipeline asks -----------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether there is a token to send."""
        return self.tokens is not None

    async def access_token(self) -> str | None:
        """The token to send now, refreshed first when it is about to expire."""
        tokens = self.tokens
        if tokens is None:
            return None
        now = self._clock()
        if tokens.access_valid(now, self._margin(tokens, now)) or not tokens.refresh_valid(now):
            return tokens.access_token
        return await self._refresh(tokens.access_token)

    async def after_unauthorized(self, used: str) -> bool:
        """A 401 ``invalid_token`` answered ``used``: refresh once; True to replay."""
        tokens = self.tokens
        if tokens is None:
            return False
        if tokens.access_token != used:
            return True  # someone refreshed meanwhile
        if not tokens.refresh_valid(self._clock()):
            return False
        await self._refresh(used)
        return True

    def secrets(self) -> tuple[str, ...]:
        """What an answer must never get into an exception: the tokens, the OAuth
        client secret, and the password of a login under way."""
        found: list[str] = []
        tokens = self.tokens
        if tokens is not None:
            found.append(tokens.access_token)
            if tokens.refresh_token:
                found.append(tokens.refresh_token)
        if self._client is not None and self._client[1]:
            found.append(self._client[1])
        if self._password:
            found.append(self._password)
        return tuple(found)

    @staticmethod
    def _margin(tokens: TokenPair, now: float) -> float:
        """Refresh this long before expiry: a minute, or a tenth of a short lifetime."""
        if tokens.expires_at is None:
            return 0.0
        lifetime = tokens.expires_at - (tokens.issued_at if tokens.issued_at is not None else now)
        return min(60.0, max(0.0, lifetime / 10))

    # -- token requests -------------------------------------------------------------

    async def _oauth_client(self) -> tuple[str, str]:
        if self._client is None:
            data = await self._pipeline.request_json(
                "GET", "/api/v1/oauth-clients/local", authenticate=False
            )
            if not isinstance(data, dict) or "client_id" not in data:
                raise AuthError("the instance did not return its OAuth client")
            self._client = (str(data["client_id"]), str(data.get("client_secret", "")))
        return self._client

    async def _token_request(
        self, fields: dict[str, str], otp: str | None = None, max_wait: float | None = None
    ) -> TokenPair:
        client_id, client_secret = await self._oauth_client()
        body = FormBody({"client_id": client_id, "client_secret": client_secret, **fields})
        headers = {"x-peertube-otp": otp} if otp else None
        now = self._clock()
        try:
            resp = await self._pipeline.send(
                "POST",
                "/api/v1/users/token",
                data=body,
                headers=headers,
                authenticate=False,
                max_wait=max_wait,
                # A failed or refused login is never tried again on its own.
                rate_limit_retries=0,
            )
        except APIError as exc:
            raise _auth_error(exc, fields["grant_type"]) from exc
        return TokenPair.from_response(decode_json(resp, "POST", secrets=self.secrets()), now)

    async def login(
        self,
        username: str,
        password: str,
        *,
        otp: str | None = None,
        max_wait: float | None = None,
    ) -> None:
        """Password grant, unless the store holds a pair for this user that still works.

        ``max_wait``: longest wait for the login budget before :class:`RateLimited`.
        """
        origin = self._pipeline.origin
        async with self._lock:
            stored = await self.store.load(origin, username)
            now = self._clock()
            if stored is not None and (stored.access_valid(now) or stored.refresh_valid(now)):
                self.tokens, self.username = stored, username
                logger.debug("reusing stored token for %s at %s", username, origin)
                return
            self._password = password
            try:
                tokens = await self._token_request(
                    {"grant_type": "password", "username": username, "password": password},
                    otp,
                    max_wait,
                )
            finally:
                self._password = None
            self.tokens, self.username = tokens, username
            await self.store.save(origin, username, tokens)
            logger.info("logged in as %s at %s", username, origin)

    async def _refresh(self, used: str) -> str:
        async with self._lock:
            tokens = self.tokens
            if tokens is None:
                raise AuthError("not signed in")
            if tokens.access_token != used:
                return tokens.access_token  # refreshed while this call waited
            origin = self._pipeline.origin
            if self.username is not None:
                # Another process sharing the store may have refreshed already (which
                # revoked the pair held here): take its pair rather than spend a request.
                stored = await self.store.load(origin, self.username)
                if stored is not None and stored.access_token != used:
                    self.tokens = stored
                    return stored.access_token
            if tokens.refresh_token is None:
                raise AuthError("the access token expired and there is no refresh token")
            try:
                fresh = await self._token_request(
                    {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
                )
            except AuthError:
                self.tokens = None
                if self.username is not None:
                    stored = await self.store.load(origin, self.username)
                    # Forget only the pair that failed, never a newer one of a neighbour.
                    if stored is None or stored.refresh_token == tokens.refresh_token:
                        await self.store.delete(origin, self.username)
                raise
            self.refreshes += 1
            self.tokens = fresh
            if self.username is not None:
                await self.store.save(self._pipeline.origin, self.username, fresh)
            logger.debug("refreshed the access token for %s", self.username or "the client")
            return fresh.access_token

    async def logout(self) -> None:
        """Revoke the token on the server and forget it here and in the store."""
        async with self._lock:
            tokens, self.tokens = self.tokens, None
            if tokens is not None:
                # Best effort: the token is forgotten here whatever the server says.
                with contextlib.suppress(PeerTubeError):
                    await self._pipeline.send(
                        "POST",
                        "/api/v1/users/revoke-token",
                        headers={"Authorization": f"Bearer {tokens.access_token}"},
                        authenticate=False,
                    )
            if self.username is not None:
                await self.store.delete(self._pipeline.origin, self.username)
            self.username = None
            self.role = None


def _auth_error(exc: APIError, grant: str) -> AuthError | APIError:
    code = exc.problem.code
    detail = exc.problem.detail or exc.problem.title or str(exc.status)
    if code == ErrorCode("missing_two_factor"):
        return TwoFactorRequired(
            "this account uses two-factor authentication: pass otp= to login()", code=code
        )
    if code is not None and code.value in (
        "invalid_grant",
        "invalid_client",
        "invalid_two_factor",
        "invalid_request",
        "unauthorized_client",
        "unsupported_grant_type",
        "account_waiting_for_approval",
        "account_approval_rejected",
    ):
        what = "login" if grant == "password" else "token refresh"
        return AuthError(f"{what} refused ({code.value}): {detail}", code=code)
    return exc
