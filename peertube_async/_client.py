"""``PeerTube``: one instance's client, its resources and its settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from yarl import URL

from ._auth import ADMINISTRATOR, MODERATOR, Authenticator, TokenPair, TokenStore
from ._convert import make_converter
from ._generated.routes import RESOURCE_NAMES
from ._pipeline import Backoff, Caller, CallOptions, Pipeline, origin_of
from ._ratelimit import BucketSnapshot, Pacing, RateLimit
from ._scheduler import Priority, Scheduler
from ._shared import RedisLimitStore
from ._transport import DEFAULT_MAX_BODY_SIZE, Transport
from ._version import __version__

if TYPE_CHECKING:
    import aiohttp

    from ._generated.resources import APIResources as _Resources
    from .resources import Me, Videos
else:
    # The resources (thousands of generated lines, and the models they return) are
    # imported and bound when the first of them is used: see PeerTube.__getattr__.
    _Resources = object

__all__ = ["DEFAULT_USER_AGENT", "PeerTube", "normalize_instance_url"]

DEFAULT_USER_AGENT = f"peertube_async/{__version__}"

_HOST_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")


def normalize_instance_url(url: str | URL) -> URL:
    """The origin of an instance from what a user may type: ``framatube.org``,
    ``https://framatube.org/``, ``https://x/api/v1``, a video page... (https by default).

    Raises :class:`ValueError` for anything that is not an http(s) host.
    """
    text = str(url).strip()
    if not text:
        raise ValueError("instance URL is empty")
    if "://" not in text:
        text = "https://" + text
    try:
        parsed = URL(text)
        port = parsed.port
    except (ValueError, TypeError) as exc:
        raise ValueError(f"malformed instance URL {str(url)!r}: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"instance URL must be http or https, not {parsed.scheme!r}")
    host = parsed.host
    if not host or not _HOST_RE.match(host) or " " in text:
        raise ValueError(f"malformed instance URL {str(url)!r}: no valid host")
    if parsed.user or parsed.password:
        raise ValueError("instance URL must not carry credentials; use login() or token=")
    if port is None:
        raise ValueError(f"malformed instance URL {str(url)!r}: bad port")
    return parsed.origin()


class PeerTube(_Resources):
    """An async client for one PeerTube instance.

    Use it as ``async with PeerTube("framatube.org") as pt: ...``. Every call goes
    through one pipeline: a rate-aware scheduler seeded with PeerTube's documented
    limits (``rate_limits`` overrides them per class), retries, and typed errors.

    ``session``: an ``aiohttp.ClientSession`` to use; it is never closed by the client.
    ``shared_limits``: a :class:`RedisLimitStore` so that every process behind one
    address shares one budget per instance.
    ``check_server_version``: a method that needs a newer PeerTube than the instance
    announces raises :class:`UnsupportedByServer` before sending (the version is asked
    once, from ``/api/v1/config``, the first time such a method is called); ``False``
    sends it anyway.
    ``strict_decoding``: an answer that does not fit its model raises
    :class:`ResponseDecodeError` naming the field, instead of leaving that field ``None``
    with a logged warning (for a bot's own test suite, say).
    ``pacing``: ``"burst"`` spends each window as fast as allowed, ``"smooth"`` spaces
    calls evenly. ``max_wait``: longest local wait for budget before a call raises
    :class:`RateLimited` without sending. ``rate_limiting=False`` switches local
    limiting off (the server's answers are still honoured); a 429 whose ``Retry-After``
    is longer than a bucket would wait then raises :class:`RateLimited` at once.
    ``max_body_size``: the longest answer body read whole, in bytes (64 MiB); a longer
    one raises :class:`ResponseTooLarge` (file downloads streamed to ``dest=`` are not
    bounded).

    The sessions the client creates give a connection ``min(10 s, 3/4 of timeout)`` to
    open (else :class:`ConnectError`, retried with backoff) and never send a request a
    second time on their own. An injected ``session`` is used as it is: its timeouts
    apply, and aiohttp sends an idempotent request again, once, when a kept-alive
    connection drops before the answer, which the server counts and the scheduler does
    not (``peertube_async._transport.new_session`` builds one without that).
    """

    videos: Videos
    me: Me

    def __init__(
        self,
        url: str | URL,
        *,
        session: aiohttp.ClientSession | None = None,
        token: str | TokenPair | None = None,
        token_store: TokenStore | None = None,
        staff_bypass: bool = False,
        timeout: float | None = 30.0,
        user_agent: str | None = DEFAULT_USER_AGENT,
        rate_limits: Mapping[str, RateLimit] | None = None,
        rate_limiting: bool = True,
        pacing: Pacing = "burst",
        priority: int = Priority.NORMAL,
        max_wait: float | None = None,
        retries: int = 3,
        rate_limit_retries: int = 3,
        backoff: Backoff | None = None,
        connection_limit: int = 100,
        scheduler: Scheduler | None = None,
        shared_limits: RedisLimitStore | None = None,
        check_server_version: bool = True,
        strict_decoding: bool = False,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.url = normalize_instance_url(url)
        if pacing not in ("burst", "smooth"):
            raise ValueError("pacing must be 'burst' or 'smooth'")
        if retries < 0 or rate_limit_retries < 0:
            raise ValueError("retries must be >= 0")
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait must be >= 0")
        self._owns_scheduler = scheduler is None
        if scheduler is None:
            scheduler = Scheduler(
                rate_limits, pacing=pacing, enabled=rate_limiting, store=shared_limits
            )
        if max_body_size <= 0:
            raise ValueError("max_body_size must be positive")
        transport = Transport(
            session,
            timeout=timeout,
            user_agent=user_agent,
            connection_limit=connection_limit,
            max_body_size=max_body_size,
        )
        pipeline = Pipeline(
            self.url,
            transport,
            scheduler,
            retries=retries,
            rate_limit_retries=rate_limit_retries,
            backoff=backoff,
        )
        pipeline.check_server_version = check_server_version
        if isinstance(token, str):
            token = TokenPair(access_token=token)
        self._auth = Authenticator(pipeline, store=token_store, tokens=token)
        pipeline.auth = self._auth
        self._staff_bypass = staff_bypass
        options = CallOptions(priority=priority, max_wait=max_wait)
        self._bind(Caller(pipeline, make_converter(strict=strict_decoding), options))

    def _bind(self, caller: Caller) -> None:
        self._caller = caller

    def _bind_resources_now(self) -> None:
        from ._generated.resources import APIResources
        from .resources import Me, Videos

        caller = self.__dict__["_caller"]
        APIResources._bind_resources(self, caller)
        # Hand-written extensions of generated resources.
        self.videos = Videos(caller)
        self.me = Me(caller)

    if not TYPE_CHECKING:  # type checkers see the resources as declared attributes

        def __getattr__(self, name: str) -> Any:
            # Reached only when normal lookup fails: a resource not yet bound.
            if name in RESOURCE_NAMES and "_caller" in self.__dict__:
                self._bind_resources_now()
                return self.__dict__[name]
            raise AttributeError(f"'PeerTube' object has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | RESOURCE_NAMES)

    def __repr__(self) -> str:
        opts = self._caller.options
        return f"<PeerTube {self.url} priority={opts.priority} max_wait={opts.max_wait}>"

    def with_options(
        self,
        *,
        priority: int | None = None,
        max_wait: float | None = None,
        timeout: float | None = None,
    ) -> PeerTube:
        """A view sharing this client's session, token and buckets, with other call
        options (e.g. ``priority=Priority.INTERACTIVE`` to go ahead of bulk work)."""
        changes: dict[str, Any] = {}
        if priority is not None:
            changes["priority"] = priority
        if max_wait is not None:
            changes["max_wait"] = max_wait
        if timeout is not None:
            changes["timeout"] = timeout
        view = object.__new__(PeerTube)
        view.url = self.url
        view._auth = self._auth
        view._staff_bypass = self._staff_bypass
        view._owns_scheduler = False
        view._bind(self._caller.evolve(**changes))
        return view

    # -- authentication -------------------------------------------------------------

    async def login(self, username: str, password: str, *, otp: str | None = None) -> None:
        """Sign in with the OAuth password grant (``otp``: a two-factor code).

        A pair kept in the token store for this instance and user is reused instead of
        spending the login budget. Raises :class:`AuthError` (or
        :class:`TwoFactorRequired`) when the server refuses; a refused login is never
        retried on its own. When the login budget is spent, waits for it (at most the
        client's ``max_wait``, else :class:`RateLimited`).
        """
        await self._auth.login(username, password, otp=otp, max_wait=self._caller.options.max_wait)
        me = await self._caller.json("GET", "/api/v1/users/me")
        role = me.get("role") if isinstance(me, dict) else None
        role_id = role.get("id") if isinstance(role, dict) else role
        self._auth.role = role_id if isinstance(role_id, int) else None
        self._caller.pipeline.skip_local_wait = self._staff_bypass and self._auth.role in (
            ADMINISTRATOR,
            MODERATOR,
        )

    async def logout(self) -> None:
        """Revoke the token on the server and forget it (here and in the token store)."""
        await self._auth.logout()
        self._caller.pipeline.skip_local_wait = False

    @property
    def tokens(self) -> TokenPair | None:
        """The current token pair (its secrets never show in ``repr``)."""
        return self._auth.tokens

    @property
    def role(self) -> int | None:
        """The signed-in user's role: 0 administrator, 1 moderator, 2 user."""
        return self._auth.role

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> PeerTube:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if the client created it (and settle its scheduler)."""
        pipeline = self._caller.pipeline
        if getattr(self, "_owns_scheduler", False):
            await pipeline.scheduler.aclose()
        await pipeline.transport.close()

    # -- raw access -----------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Any call through the full pipeline; returns the decoded JSON (``None`` when
        the answer is empty). ``path`` is an instance path (``/api/v1/...``, or relative
        to ``/api/v1/``) whose values are already encoded: build it with
        :func:`peertube_async.encode_path` from untrusted values."""
        return await self._caller.json(
            method, path, params=params, json=json, data=data, headers=headers
        )

    async def server_version(self) -> str:
        """The PeerTube release the instance announces (``"6.3.0"``; "" if none), asked
        once per client from ``/api/v1/config`` (one call of the ``api`` budget)."""
        return await self._caller.pipeline.learn_server_version(
            priority=self._caller.options.priority
        )

    @property
    def rate_limits(self) -> dict[str, BucketSnapshot]:
        """A snapshot of this instance's buckets, keyed by limiter class."""
        pipeline = self._caller.pipeline
        return pipeline.scheduler.snapshot([origin_of(self.url)])

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler (shareable between clients through ``scheduler=``)."""
        return self._caller.pipeline.scheduler
