"""Signing in end to end over loopback, against FakeInstance's OAuth."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from peertube_async import (
    AuthError,
    FileTokenStore,
    PeerTube,
    RateLimit,
    RateLimited,
    TokenPair,
    TwoFactorRequired,
    Unauthorized,
)
from peertube_async.testing import FakeInstance

PASSWORD = "alice-password"


class Clock:
    """A wall clock the test moves; shared by the fake server and the client."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def client(fake: FakeInstance, clock: Clock | None = None, **kw: object) -> PeerTube:
    pt = PeerTube(fake.url, **kw)  # type: ignore[arg-type]
    if clock is not None:
        pt._auth._clock = clock
    return pt


async def test_login_then_authenticated_calls() -> None:
    async with FakeInstance() as fake, client(fake) as pt:
        await pt.login("alice", PASSWORD)
        assert pt.tokens is not None and pt.role == 2
        me = await pt.me.get()
        assert me.username == "alice"
        assert fake.stats.token_requests == 1
        assert fake.stats.limiter_hits.get("login") == 1


async def test_wrong_password_is_an_auth_error_and_never_retried() -> None:
    async with FakeInstance() as fake, client(fake) as pt:
        with pytest.raises(AuthError) as info:
            await pt.login("alice", "nope")
        assert info.value.code is not None and info.value.code.value == "invalid_grant"
        assert fake.stats.token_requests == 1
        assert "nope" not in str(info.value) and "nope" not in repr(info.value)


async def test_refresh_before_expiry() -> None:
    clock = Clock()
    async with (
        FakeInstance(access_token_lifetime=3600, clock=clock) as fake,
        client(fake, clock) as pt,
    ):
        await pt.login("alice", PASSWORD)
        first = pt.tokens
        clock.now += 3590  # inside the refresh margin, not yet expired
        await pt.me.get()
        assert fake.stats.refreshes == 1
        assert pt.tokens != first


async def test_refresh_once_on_401_then_replay() -> None:
    clock = Clock()
    async with (
        FakeInstance(access_token_lifetime=3600, clock=clock) as fake,
        client(fake, clock) as pt,
    ):
        await pt.login("alice", PASSWORD)
        tokens = pt.tokens
        assert tokens is not None
        # The server expires the token; the client still believes it valid: its pair
        # says so, and its clock lags the server's (which is `clock`) by `skew`.
        pt._auth.tokens = TokenPair(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=clock.now + 10_000,
            refresh_expires_at=clock.now + 100_000,
        )
        skew = 3700.0  # past the 3600 s access-token lifetime
        clock.now += skew
        pt._auth._clock = lambda: clock.now - skew
        me = await pt.me.get()
        assert me.username == "alice"
        # The stale token was sent and refused once, not refreshed ahead of time.
        assert fake.stats.statuses.get(401) == 1
        assert fake.stats.refreshes == 1


async def test_two_hundred_calls_share_one_refresh() -> None:
    clock = Clock()
    async with (
        FakeInstance(access_token_lifetime=3600, clock=clock, rate_limit=False) as fake,
        client(fake, clock, rate_limiting=False) as pt,
    ):
        await pt.login("alice", PASSWORD)
        clock.now += 4000  # expired for everyone
        results = await asyncio.gather(*(pt.me.get() for _ in range(200)))
        assert len(results) == 200
        assert all(r.username == "alice" for r in results)
        assert fake.stats.refreshes == 1
        assert fake.stats.token_requests == 2  # the login and one refresh


async def test_failed_refresh_is_a_clear_error_without_loops() -> None:
    clock = Clock()
    async with (
        FakeInstance(access_token_lifetime=3600, refresh_token_lifetime=7200, clock=clock) as fake,
        client(fake, clock) as pt,
    ):
        await pt.login("alice", PASSWORD)
        clock.now += 8000  # both expired on the server
        pt._auth._clock = lambda: clock.now - 5000  # client thinks refresh still works
        with pytest.raises(AuthError) as info:
            await pt.me.get()
        assert info.value.code is not None and info.value.code.value == "invalid_grant"
        assert fake.stats.token_requests == 2
        assert pt.tokens is None


async def test_logout_revokes() -> None:
    async with FakeInstance() as fake, client(fake) as pt:
        await pt.login("alice", PASSWORD)
        token = pt.tokens.access_token  # type: ignore[union-attr]
        await pt.logout()
        assert pt.tokens is None
        assert fake.stats.revocations == 1
        async with PeerTube(fake.url, token=token) as stale:
            with pytest.raises(Unauthorized):
                await stale.me.get()


async def test_two_factor() -> None:
    async with FakeInstance() as fake, client(fake) as pt:
        fake.enable_two_factor("alice")
        with pytest.raises(TwoFactorRequired, match="otp"):
            await pt.login("alice", PASSWORD)
        with pytest.raises(AuthError) as info:
            await pt.login(
                "alice", PASSWORD, otp="000000" if fake.totp("alice") != "000000" else "1"
            )
        assert info.value.code is not None and info.value.code.value == "invalid_two_factor"
        await pt.login("alice", PASSWORD, otp=fake.totp("alice"))
        assert pt.role == 2


async def test_login_budget_429_is_raised_not_retried() -> None:
    async with (
        FakeInstance(limits={"login": (1, 300.0)}) as fake,
        client(fake, rate_limits={"login": RateLimit(5, 300.0)}, max_wait=1.0) as pt,
    ):
        with pytest.raises(AuthError):
            await pt.login("alice", "wrong")
        # The answer showed the server's real budget (1): no second request is sent.
        with pytest.raises(RateLimited) as info:
            await pt.login("alice", PASSWORD)
        assert info.value.bucket == "login"
        assert info.value.sent is False
        assert fake.stats.token_requests == 1
        # A client unaware of the spent budget is refused by the server, once.
        async with client(fake, rate_limiting=False) as blind:
            with pytest.raises(RateLimited) as refused:
                await blind.login("alice", PASSWORD)
        assert refused.value.sent is True
        assert fake.stats.token_requests == 2


async def test_bot_restarted_many_times_logs_in_once(tmp_path: Path) -> None:
    store_path = tmp_path / "tokens.json"
    async with FakeInstance() as fake:
        for _ in range(5):
            async with client(fake, token_store=FileTokenStore(store_path)) as pt:
                await pt.login("alice", PASSWORD)
                await pt.me.get()
        assert fake.stats.token_requests == 1
        assert stat.S_IMODE(os.stat(store_path).st_mode) == 0o600


async def test_no_secret_in_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeInstance() as fake, client(fake) as pt:
        await pt.login("alice", PASSWORD)
        await pt.me.get()
        tokens = pt.tokens
        assert tokens is not None
        with pytest.raises(AuthError):
            await pt.login("bob", "s3cret-pass")
        texts = [r.getMessage() for r in caplog.records] + [repr(pt), repr(tokens)]
    joined = "\n".join(texts)
    assert tokens.access_token not in joined
    assert tokens.refresh_token is not None and tokens.refresh_token not in joined
    assert PASSWORD not in joined and "s3cret-pass" not in joined
    assert any("logged in as alice" in t for t in texts)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def other_host() -> AsyncIterator[tuple[URL, list[str | None]]]:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield URL(f"http://127.0.0.1:{runner.addresses[0][1]}"), seen
    await runner.cleanup()


async def test_token_never_goes_to_another_origin(
    other_host: tuple[URL, list[str | None]],
) -> None:
    url, seen = other_host
    async with FakeInstance() as fake, client(fake) as pt:
        await pt.login("alice", PASSWORD)
        await pt.request("GET", str(url.with_path("/api/v1/videos")))
        async with pt._caller.pipeline.stream("GET", str(url.with_path("/static/file"))) as resp:
            assert resp.status == 200
    assert seen == [None, None]


async def test_staff_bypass_skips_local_waiting_only_when_enabled() -> None:
    async with FakeInstance(limits={"api": (3, 30.0)}) as fake:
        async with client(fake, staff_bypass=True, rate_limits={"api": RateLimit(3, 30.0)}) as pt:
            await pt.login("root", fake.passwords["root"])
            # More calls than the window holds: the server lets the administrator pass.
            await asyncio.gather(*(pt.videos.get(1) for _ in range(6)))
            assert fake.stats.bypassed >= 1
        fake.reset_limits()
        async with client(fake, rate_limits={"api": RateLimit(3, 30.0)}) as pt:
            await pt.login("root", fake.passwords["root"])
            with pytest.raises(RateLimited):
                await pt.with_options(max_wait=0.1).videos.get(1)


async def test_processes_sharing_a_store_never_undo_each_others_refresh(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "tokens.json"
    async with FakeInstance(access_token_lifetime=3600, clock=clock) as fake:
        a = client(fake, clock, token_store=FileTokenStore(path))
        b = client(fake, clock, token_store=FileTokenStore(path))
        async with a, b:
            await a.login("alice", PASSWORD)
            await b.login("alice", PASSWORD)  # reuses the stored pair
            assert fake.stats.token_requests == 1
            clock.now += 3590
            await a.me.get()  # A refreshes: the old pair, still held by B, is revoked
            assert fake.stats.refreshes == 1
            await b.me.get()  # B takes A's pair from the store instead of failing
            assert fake.stats.refreshes == 1
            assert fake.stats.token_requests == 2
        stored = await FileTokenStore(path).load(str(fake.url), "alice")
        assert stored is not None and stored == a.tokens == b.tokens


async def test_transport_errors_never_carry_the_token() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with PeerTube(f"http://127.0.0.1:{port}", token="s3cret-token", retries=0) as pt:
            with pytest.raises(Exception) as info:
                await pt.request("GET", "/api/v1/videos")
    finally:
        server.close()
        await server.wait_closed()
    err = info.value
    chain = [err, err.__cause__, err.__context__]
    assert not any("s3cret-token" in repr(e) for e in chain if e is not None)
    assert err.__cause__ is None
