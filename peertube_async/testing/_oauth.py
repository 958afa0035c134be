"""OAuth of the fake instance, as PeerTube implements it (``server/core/lib/auth/oauth.ts``).

The password grant (with the ``x-peertube-otp`` header for two-factor accounts), the
refresh grant, which revokes the old pair, ``POST /api/v1/users/revoke-token``, access
tokens that stop working after their lifetime, the local OAuth client, and PeerTube's
``authenticate`` middleware that every route guarded by a token runs.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from ._data import Catalog, User, dumps
from ._http import JSON, Exchange, FakeStats, Responder, read_body
from ._otp import totp_valid

__all__ = ["OAuthServer", "Session", "TokenPair"]

# OTP in server/core/initializers/constants.ts: the request header carrying the code, and
# the value the token endpoint answers in it when a two-factor account sent none.
_OTP_HEADER = "x-peertube-otp"
_OTP_REQUIRED = "required; app"
# node-oauth2-server accepts exactly one space between the scheme and the token.
_BEARER_RE = re.compile(r"Bearer\s(\S+)", re.I)


@dataclass(frozen=True)
class TokenPair:
    """Tokens issued by the fake's OAuth server (see :meth:`FakeInstance.issue_tokens`)."""

    access_token: str
    refresh_token: str
    access_token_expires_at: float
    refresh_token_expires_at: float


@dataclass(eq=False)
class Session:
    """One row of PeerTube's ``oAuthToken`` table: an access and a refresh token.

    Times are whole milliseconds, as the JavaScript ``Date`` objects PeerTube compares.
    """

    user: User
    tokens: TokenPair
    issued_ms: int
    access_expires_ms: int
    refresh_expires_ms: int


class OAuthServer:
    """The OAuth tables and endpoints of one fake instance.

    Args:
        http: the instance's :class:`Responder`.
        stats: the instance's current counters (they are replaced by ``reset_stats``).
        catalog: the instance's data (users), once started.
        host: ``host:port`` the instance answers as, once started.
        clock: UNIX time in seconds.
        access_token_lifetime: seconds an access token lives.
        refresh_token_lifetime: seconds a refresh token lives.
    """

    def __init__(
        self,
        http: Responder,
        *,
        stats: Callable[[], FakeStats],
        catalog: Callable[[], Catalog],
        host: Callable[[], str],
        clock: Callable[[], float],
        access_token_lifetime: float,
        refresh_token_lifetime: float,
    ) -> None:
        self._http = http
        self._stats = stats
        self._catalog = catalog
        self._host = host
        self._clock = clock
        self.access_token_lifetime = float(access_token_lifetime)
        self.refresh_token_lifetime = float(refresh_token_lifetime)
        self.client_id = secrets.token_hex(16)
        self.client_secret = secrets.token_hex(16)
        #: Username -> base32 secret of the users who log in with a one-time code.
        self.otp_secrets: dict[str, str] = {}
        self._sessions_by_access: dict[str, Session] = {}
        self._sessions_by_refresh: dict[str, Session] = {}

    def revoke(self, token: str) -> bool:
        """End the session of an access or refresh token; whether there was one."""
        session = self._sessions_by_access.get(token) or self._sessions_by_refresh.get(token)
        if session is None:
            return False
        self.close_session(session)
        return True

    def expire_access(self, token: str) -> bool:
        """Let an access token's lifetime end now (its refresh token stays good); whether
        there was such a token."""
        session = self._sessions_by_access.get(token)
        if session is None:
            return False
        session.access_expires_ms = self.now_ms() - 1
        return True

    def user_of_token(self, token: str) -> User | None:
        """The user of a valid access token, as ``authenticateSocket`` checks it: known,
        and neither it nor its refresh token expired."""
        session = self._sessions_by_access.get(token)
        now = self.now_ms()
        if session is None or session.access_expires_ms < now or session.refresh_expires_ms < now:
            return None
        return session.user

    def user_of(self, exchange: Exchange) -> User | None:
        """The user the request authenticated as, if it did."""
        session = exchange.session
        return session.user if isinstance(session, Session) else None

    def now_ms(self) -> int:
        """The clock as JavaScript's ``Date.now()``: whole milliseconds."""
        return math.floor(self._clock() * 1000)

    def open_session(self, user: User) -> Session:
        # buildToken in server/core/lib/auth/oauth.ts: two SHA-1 hex digests, expiry dates
        # of Date.now() plus each lifetime.
        issued = self.now_ms()
        access_expires = issued + round(self.access_token_lifetime * 1000)
        refresh_expires = issued + round(self.refresh_token_lifetime * 1000)
        tokens = TokenPair(
            access_token=secrets.token_hex(20),
            refresh_token=secrets.token_hex(20),
            access_token_expires_at=access_expires / 1000,
            refresh_token_expires_at=refresh_expires / 1000,
        )
        session = Session(user, tokens, issued, access_expires, refresh_expires)
        self._sessions_by_access[tokens.access_token] = session
        self._sessions_by_refresh[tokens.refresh_token] = session
        return session

    def close_session(self, session: Session) -> None:
        self._sessions_by_access.pop(session.tokens.access_token, None)
        self._sessions_by_refresh.pop(session.tokens.refresh_token, None)

    def authenticate(self, request: web.Request, exchange: Exchange) -> User | web.Response:
        """PeerTube's ``authenticate`` middleware: the user, or the error to send."""
        outcome = self.authenticate_session(request, exchange)
        return outcome.user if isinstance(outcome, Session) else outcome

    def authenticate_session(
        self, request: web.Request, exchange: Exchange
    ) -> Session | web.Response:
        """The session of the request's bearer token, or the error to send.

        node-oauth2-server's authenticate handler refuses a token it does not know and one
        whose ``accessTokenExpiresAt < new Date()``; PeerTube's middleware
        (``server/core/middlewares/auth.ts``) words every refusal "Token is invalid".
        """
        if isinstance(exchange.session, Session):
            return exchange.session
        header = request.headers.get("Authorization")
        if not header:
            if "access_token" in request.query:
                return self.token_refused(request, exchange, 400, "invalid_request")
            return self.token_refused(request, exchange, 401, "unauthorized_request")
        match = _BEARER_RE.fullmatch(header)
        if match is None or "access_token" in request.query:
            return self.token_refused(request, exchange, 400, "invalid_request")
        session = self._sessions_by_access.get(match[1])
        if session is None or session.access_expires_ms < self.now_ms():
            return self.token_refused(request, exchange, 401, "invalid_token")
        exchange.session = session
        return session

    def optional_authenticate(
        self, request: web.Request, exchange: Exchange
    ) -> web.Response | None:
        """``optionalAuthenticate``: a bad token fails even where none is needed."""
        if not request.headers.get("Authorization"):
            return None
        outcome = self.authenticate(request, exchange)
        return outcome if isinstance(outcome, web.Response) else None

    def token_refused(
        self, request: web.Request, exchange: Exchange, status: int, code: str
    ) -> web.Response:
        return self._http.problem(request, exchange, status, "Token is invalid", code=code)

    async def oauth_client(self, request: web.Request, exchange: Exchange) -> web.Response:
        exchange.docs = "getOAuthClient"
        if request.host != self._host():
            # PeerTube only hands its client to requests addressed to its own host.
            return self._http.respond(request, exchange, 403, b"", JSON, with_etag=False)
        body = dumps({"client_id": self.client_id, "client_secret": self.client_secret})
        return self._http.json(request, exchange, body)

    async def token(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/users/token``: PeerTube's ``handleOAuthToken``.

        The checks run in the order of ``server/core/lib/auth/oauth.ts``; ``handleToken``
        in ``server/core/controllers/api/users/token.ts`` turns each error into a problem
        whose status is the error's ``code`` and whose ``code`` is its ``name``.
        """
        exchange.docs = "getOAuthToken"
        stats = self._stats()
        body = await read_body(request)
        sent_grant = body.get("grant_type")
        grant_key = sent_grant if isinstance(sent_grant, str) else ""
        stats.grant_types[grant_key] = stats.grant_types.get(grant_key, 0) + 1

        def fail(
            code: str, message: str, status: int = 400, extra: tuple[tuple[str, str], ...] = ()
        ) -> web.Response:
            return self._http.problem(request, exchange, status, message, code=code, extra=extra)

        if request.content_type != "application/x-www-form-urlencoded":
            return fail(
                "invalid_request",
                "Invalid request: content must be application/x-www-form-urlencoded",
            )

        def param(name: str) -> str:
            value = body.get(name)
            return value if isinstance(value, str) else ""

        client_id, client_secret = param("client_id"), param("client_secret")
        if not client_id or not client_secret:
            return fail("invalid_client", "Invalid client: cannot retrieve client credentials")
        if client_id != self.client_id or client_secret != self.client_secret:
            return fail("invalid_client", "Invalid client: client is invalid")
        grant_type = param("grant_type")
        if not grant_type:
            return fail("invalid_request", "Missing parameter: `grant_type`")

        if grant_type == "password":
            username, password = param("username"), param("password")
            if not username:
                return fail("invalid_request", "Missing parameter: `username`")
            if not password:
                return fail("invalid_request", "Missing parameter: `password`")
            user = self._catalog().user_by_login(username)
            if user is None or user.password != password:
                return fail("invalid_grant", "Invalid grant: user credentials are invalid")
            # MissingTwoFactorError (401, with the header telling the client to ask for a
            # code) and InvalidTwoFactorError (400), after the password was accepted.
            secret = self.otp_secrets.get(user.username)
            if secret is not None:
                code = request.headers.get(_OTP_HEADER, "")
                if not code:
                    return fail(
                        "missing_two_factor",
                        "Missing two factor header",
                        401,
                        extra=((_OTP_HEADER, _OTP_REQUIRED),),
                    )
                if not totp_valid(secret, code, self._clock()):
                    return fail("invalid_two_factor", "Invalid two factor header")
            session = self.open_session(user)
            stats.logins += 1
        elif grant_type == "refresh_token":
            refresh_token = param("refresh_token")
            if not refresh_token:
                return fail("invalid_request", "Missing parameter: `refresh_token`")
            previous = self._sessions_by_refresh.get(refresh_token)
            if previous is None:
                return fail("invalid_grant", "Invalid grant: refresh token is invalid")
            # An expired pair is refused but not deleted: asking again gets the same answer.
            if previous.refresh_expires_ms < self.now_ms():
                return fail("invalid_grant", "Invalid grant: refresh token has expired")
            # revokeToken deletes the whole row: the old access token stops working too.
            self.close_session(previous)
            session = self.open_session(previous.user)
            stats.refreshes += 1
        else:
            return fail("unsupported_grant_type", "Unsupported grant type: `grant_type` is invalid")

        # saveToken (server/core/lib/auth/oauth-model.ts) stamps lastLoginDate for both
        # grants, then answers Math.floor((expiresAt - Date.now()) / 1000) once the token
        # row is written, at least a millisecond after the expiry dates were computed: one
        # second less than the lifetime, as in the samples (86399, 1209599).
        session.user.last_login_date = self._clock()
        answered = max(self.now_ms(), session.issued_ms + 1)
        tokens = session.tokens
        reply = {
            "token_type": "Bearer",
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": (session.access_expires_ms - answered) // 1000,
            "refresh_token_expires_in": (session.refresh_expires_ms - answered) // 1000,
        }
        extra = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
        return self._http.json(request, exchange, dumps(reply), extra=extra)

    async def revoke_token(self, request: web.Request, exchange: Exchange) -> web.Response:
        """``POST /api/v1/users/revoke-token``: ``handleTokenRevocation`` in
        ``server/core/controllers/api/users/token.ts``.

        The bearer token's row goes (access and refresh token alike) and the answer is
        ``revokeToken``'s result, ``{"success": true}`` (its ``redirectUrl`` is only set
        for external-auth plugins and JSON drops it when undefined).
        """
        exchange.docs = "revokeOAuthToken"
        session = self.authenticate_session(request, exchange)
        if isinstance(session, web.Response):
            return session
        self.close_session(session)
        self._stats().revocations += 1
        return self._http.json(request, exchange, dumps({"success": True}))
