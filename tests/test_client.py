"""The client end to end over loopback: FakeInstance, and small hand-made servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from peertube_async import (
    Backoff,
    BadRequest,
    ConnectError,
    NotFound,
    PeerTube,
    Priority,
    RateLimit,
    RateLimited,
    RequestTimeout,
    ServerError,
    Video,
    encode_path,
    normalize_instance_url,
)
from peertube_async.testing import FakeInstance

FAST = Backoff(base=0.001, cap=0.01)


@pytest.fixture
async def fake() -> AsyncIterator[FakeInstance]:
    async with FakeInstance(videos=40) as instance:
        yield instance


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[URL]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> URL:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return URL(f"http://127.0.0.1:{port}")

    yield start
    for runner in runners:
        await runner.cleanup()


# -- construction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("framatube.org", "https://framatube.org"),
        ("https://framatube.org/", "https://framatube.org"),
        ("https://x.example/api/v1", "https://x.example"),
        ("http://127.0.0.1:9000/videos/watch/abc?start=3", "http://127.0.0.1:9000"),
        (URL("https://Peertube.Example:8443"), "https://peertube.example:8443"),
    ],
)
def test_instance_urls_are_normalized(given: str | URL, expected: str) -> None:
    assert str(normalize_instance_url(given)) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "ftp://x.org",
        "https://",
        "https://exa mple.org",
        "https://u:p@x.org",
        "http://x:99999",
    ],
)
def test_malformed_urls_are_a_clear_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="instance URL"):
        PeerTube(bad)


def test_repr_and_options_are_validated() -> None:
    with pytest.raises(ValueError, match="pacing"):
        PeerTube("x.org", pacing="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_wait"):
        PeerTube("x.org", max_wait=-1)
    assert "https://x.org" in repr(PeerTube("x.org", token="s3cret-token"))
    assert "s3cret" not in repr(PeerTube("x.org", token="s3cret-token"))


# -- endpoints --------------------------------------------------------------------------


async def test_video_list_awaits_one_page(fake: FakeInstance) -> None:
    async with PeerTube(fake.url) as pt:
        page = await pt.videos.list(count=10, sort="publishedAt")
    assert page.total == 40
    assert [v.id for v in page.data] == list(range(1, 11))
    assert all(isinstance(v, Video) for v in page.data)


async def test_video_list_iterates_every_page(fake: FakeInstance) -> None:
    async with PeerTube(fake.url) as pt:
        ids = [v.id async for v in pt.videos.list(sort="publishedAt")]
        assert ids == list(range(1, 41))
        assert fake.stats.routes["GET /api/v1/videos"] == 1  # count=100 per request
        small = [v.id async for v in pt.videos.list(sort="publishedAt", count=15)]
        assert small == ids
        assert fake.stats.routes["GET /api/v1/videos"] == 1 + 3
        first = await pt.videos.list(sort="-publishedAt", limit=5).to_list()
        assert [v.id for v in first] == [40, 39, 38, 37, 36]


async def test_skip_count_ends_on_a_short_page(fake: FakeInstance) -> None:
    async with PeerTube(fake.url) as pt:
        page = await pt.videos.list(skip_count=True, count=5)
        assert page.total is None
        ids = [v.id async for v in pt.videos.list(skip_count=True, count=30, sort="publishedAt")]
    assert len(ids) == 40


async def test_get_video_by_id_uuid_and_short_uuid(fake: FakeInstance) -> None:
    seeded = fake.videos[4]
    async with PeerTube(fake.url) as pt:
        for key in (seeded.id, seeded.uuid, seeded.short_uuid):
            video = await pt.videos.get(key)
            assert (video.id, video.uuid, video.short_uuid) == (
                seeded.id,
                seeded.uuid,
                seeded.short_uuid,
            )
        config = await pt.config.get()
        assert config.instance is not None and config.instance.name


async def test_errors_are_typed(fake: FakeInstance) -> None:
    async with PeerTube(fake.url) as pt:
        with pytest.raises(NotFound) as missing:
            await pt.videos.get("00000000-0000-4000-8000-000000000000")
        nil = "00000000-0000-4000-8000-000000000000"
        assert str(missing.value) == f"404 Not Found: Video not found (GET /api/v1/videos/{nil})"
        with pytest.raises(BadRequest) as bad:
            await pt.request("GET", "/api/v1/videos", params={"count": 1000})
        assert "count" in bad.value.invalid_params
        assert bad.value.problem.status == 400


async def test_path_values_cannot_reach_another_route(fake: FakeInstance) -> None:
    async with PeerTube(fake.url) as pt:
        for evil in ("../users/me", "..", "1?count=1000", "1#x", "a/b"):
            with pytest.raises((BadRequest, NotFound)):
                await pt.videos.get(evil)
    assert not any("users/me" in route for route in fake.stats.routes)
    assert encode_path("/api/v1/videos/{id}", "..") == "/api/v1/videos/%2E%2E"
    with pytest.raises(ValueError):
        encode_path("/api/v1/videos/{id}", "")


async def test_injected_session_is_used_and_left_open(fake: FakeInstance) -> None:
    async with aiohttp.ClientSession() as session:
        async with PeerTube(fake.url, session=session, user_agent="bot/1") as pt:
            await pt.videos.list(count=1)
        assert not session.closed
        async with PeerTube(fake.url, session=session) as pt:
            await pt.videos.list(count=1)


async def test_raw_request_returns_json(fake: FakeInstance) -> None:
    async with PeerTube(fake.url) as pt:
        cats = await pt.request("GET", "videos/categories")
        assert cats["1"] == "Music"


# -- rate limits --------------------------------------------------------------------------


async def test_concurrent_calls_stay_within_the_server_budget() -> None:
    async with (
        FakeInstance(videos=5, limits={"api": (10, 0.5)}) as fake,
        PeerTube(fake.url, rate_limits={"api": RateLimit(10, 0.5)}) as pt,
    ):
        results = await asyncio.gather(*(pt.videos.get(1 + i % 5) for i in range(35)))
        snap = pt.rate_limits["api"]
    assert len(results) == 35
    assert fake.stats.rate_limited == 0
    assert snap.limit == 10


async def test_smooth_pacing_stays_within_the_budget() -> None:
    async with FakeInstance(videos=5, limits={"api": (10, 0.5)}) as fake:
        opts = {"rate_limits": {"api": RateLimit(10, 0.5)}, "pacing": "smooth"}
        async with PeerTube(fake.url, **opts) as pt:  # type: ignore[arg-type]
            await asyncio.gather(*(pt.videos.get(1) for _ in range(25)))
    assert fake.stats.rate_limited == 0


async def test_429_is_retried_after_retry_after_then_raised() -> None:
    async with FakeInstance(videos=2, limits={"api": (2, 0.3)}) as fake:
        # Local limiting off: the server's 429 must be handled by the pipeline.
        async with PeerTube(fake.url, rate_limiting=False) as pt:
            got = await asyncio.gather(*(pt.videos.get(1) for _ in range(4)))
            assert len(got) == 4
            assert fake.stats.rate_limited >= 1
        async with PeerTube(fake.url, rate_limiting=False, rate_limit_retries=0) as pt:
            with pytest.raises(RateLimited) as info:
                await asyncio.gather(*(pt.videos.get(1) for _ in range(6)))
    err = info.value
    assert err.bucket == "api"
    assert err.sent is True
    assert err.retry_after is not None


async def test_max_wait_raises_before_sending() -> None:
    async with (
        FakeInstance(videos=2, limits={"api": (2, 30.0)}) as fake,
        PeerTube(fake.url, rate_limits={"api": RateLimit(2, 30.0)}) as pt,
    ):
        await pt.videos.get(1)
        await pt.videos.get(1)
        before = fake.stats.requests
        with pytest.raises(RateLimited) as info:
            await pt.with_options(max_wait=0.2).videos.get(1)
        assert fake.stats.requests == before
        assert info.value.sent is False
        assert pt.rate_limits["api"].remaining == 0


async def test_cancelled_calls_leave_nothing_behind() -> None:
    async with (
        FakeInstance(videos=2, limits={"api": (1, 30.0)}) as fake,
        PeerTube(fake.url, rate_limits={"api": RateLimit(1, 30.0)}) as pt,
    ):
        await pt.videos.get(1)
        tasks = [asyncio.ensure_future(pt.videos.get(1)) for _ in range(20)]
        await asyncio.sleep(0.05)
        assert pt.rate_limits["api"].waiting == 20
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert pt.scheduler._waiting == 0
        assert fake.stats.requests == 1


async def test_interactive_view_overtakes_bulk_work() -> None:
    async with (
        FakeInstance(videos=2, limits={"api": (3, 0.4)}) as fake,
        PeerTube(fake.url, rate_limits={"api": RateLimit(3, 0.4)}) as pt,
    ):
        bulk = pt.with_options(priority=Priority.BULK)
        order: list[str] = []

        async def call(view: PeerTube, name: str) -> None:
            await view.videos.get(1)
            order.append(name)

        jobs = [asyncio.ensure_future(call(bulk, f"b{i}")) for i in range(9)]
        await asyncio.sleep(0.05)
        urgent = asyncio.ensure_future(
            call(pt.with_options(priority=Priority.INTERACTIVE), "urgent")
        )
        await asyncio.gather(*jobs, urgent)
    assert order.index("urgent") < 6
    assert fake.stats.rate_limited == 0


async def test_bad_rate_limit_headers_never_stall(
    serve: Callable[[Handler], Awaitable[URL]],
) -> None:
    variants = [
        {"X-RateLimit-Limit": "-1", "X-RateLimit-Remaining": "abc", "X-RateLimit-Reset": "-5"},
        {
            "X-RateLimit-Limit": "2",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "99999999999",
        },
        {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0"},
    ]
    seen = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal seen
        seen += 1
        return web.json_response({"ok": True}, headers=variants[seen % len(variants)])

    url = await serve(handler)
    async with PeerTube(url, rate_limits={"api": RateLimit(50, 0.2)}) as pt:
        out = await asyncio.wait_for(
            asyncio.gather(*(pt.request("GET", "/api/v1/x") for _ in range(12))), 10
        )
    assert len(out) == 12


# -- retries ------------------------------------------------------------------------------


async def test_gateway_errors_retry_idempotent_calls_only(
    serve: Callable[[Handler], Awaitable[URL]],
) -> None:
    hits = {"GET": 0, "POST": 0}

    async def handler(request: web.Request) -> web.Response:
        hits[request.method] += 1
        if hits[request.method] <= 2:
            return web.Response(
                status=503, text="<html>Service Unavailable</html>", content_type="text/html"
            )
        return web.json_response({"n": hits[request.method]})

    url = await serve(handler)
    async with PeerTube(url, backoff=FAST) as pt:
        assert await pt.request("GET", "/api/v1/x") == {"n": 3}
        with pytest.raises(ServerError) as info:
            await pt.request("POST", "/api/v1/x", json={"a": 1})
    assert hits["POST"] == 1  # never sent twice: the server may have processed it
    assert info.value.status == 503


async def test_proxy_429_is_retried_even_for_post(
    serve: Callable[[Handler], Awaitable[URL]],
) -> None:
    hits = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        if hits == 1:
            return web.Response(status=429, text="<html>slow down</html>", content_type="text/html")
        return web.json_response(await request.json())

    url = await serve(handler)
    async with PeerTube(url, backoff=FAST) as pt:
        assert await pt.request("POST", "/api/v1/x", json={"a": 1}) == {"a": 1}
    assert hits == 2


async def test_connection_refused_is_a_connect_error(
    serve: Callable[[Handler], Awaitable[URL]],
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({})

    url = await serve(handler)
    # A port that was free a moment ago: bind and close to find one.
    probe = web.AppRunner(web.Application())
    await probe.setup()
    site = web.TCPSite(probe, "127.0.0.1", 0)
    await site.start()
    port = probe.addresses[0][1]
    await probe.cleanup()
    async with PeerTube(f"http://127.0.0.1:{port}", backoff=FAST, retries=1) as pt:
        with pytest.raises(ConnectError) as info:
            await pt.request("POST", "/api/v1/x", json={})
    assert "cannot connect" in str(info.value)
    assert url.port != port


async def test_timeout_is_a_request_timeout(serve: Callable[[Handler], Awaitable[URL]]) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    url = await serve(handler)
    async with PeerTube(url, timeout=0.1, backoff=FAST, retries=0) as pt:
        with pytest.raises(RequestTimeout):
            await pt.request("GET", "/api/v1/slow")


async def test_token_goes_to_the_instance_origin_only(
    serve: Callable[[Handler], Awaitable[URL]],
) -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({})

    home = await serve(handler)
    other = await serve(handler)
    async with PeerTube(home, token="s3cret") as pt:
        await pt.request("GET", "/api/v1/x")
        await pt.request("GET", str(other.with_path("/api/v1/x")))
    assert seen == ["Bearer s3cret", None]


# -- command line -------------------------------------------------------------------------


def test_cli_lists_videos_of_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    from peertube_async.cli import main

    assert main(["videos", "--limit", "5"]) == 0
    out = capsys.readouterr()
    assert len(out.out.strip().splitlines()) == 6  # header + 5 rows
    assert "sandbox" in out.err


def test_cli_reports_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    from peertube_async.cli import main

    assert main(["videos", "ftp://nope"]) == 2
    assert "instance URL" in capsys.readouterr().err
