"""The fault matrix: no instance can hurt the client.

Each fault is played by a :class:`HostileServer` on 127.0.0.1 and checked end to end
through ``PeerTube``. The numbered tests are the items of the issue "No instance can hurt
the client"; the others pin what already held, so that it keeps holding.

Cells covered by other modules (kept there, not repeated here):

- connection refused: test_client::test_connection_refused_is_a_connect_error
- an answer slower than ``timeout``: test_client::test_timeout_is_a_request_timeout
- garbage ``X-RateLimit-*`` headers: test_client::test_bad_rate_limit_headers_never_stall;
  a reset hours away: test_ratelimit::test_absurd_reset_never_stalls_for_hours
- hostile path values (``..``, ``?``, ``#``, ``/``):
  test_client::test_path_values_cannot_reach_another_route
- no token to another origin: test_client::test_token_goes_to_the_instance_origin_only,
  test_auth::test_token_never_goes_to_another_origin,
  test_uploads::test_private_download_sends_the_token_only_home
- cancellation while waiting for budget: test_client::test_cancelled_calls_leave_nothing_behind
- token store atomicity and mode 0600:
  test_token_store::test_file_store_concurrent_writers_lose_nothing,
  test_token_store::test_file_store_is_private_and_leaves_no_temporaries
- a proxy's 429 without ``X-RateLimit-*`` (a POST sent again):
  test_client::test_proxy_429_is_retried_even_for_post
- a proxy's 503 (GET retried, POST never sent twice):
  test_client::test_gateway_errors_retry_idempotent_calls_only
- nginx's HTML 502 page: test_errors::test_proxy_html_page
- a broken ``Content-Length``, no token in the error:
  test_auth::test_transport_errors_never_carry_the_token
- a connection dropped mid-upload:
  test_uploads::test_upload_survives_connection_drops_at_random_offsets
- ``key=value`` and ``Bearer`` secrets in a body:
  test_errors::test_secrets_in_text_bodies_are_redacted
- any body, any status, never a crash: test_errors::test_error_from_response_never_raises_on_bytes
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from peertube_async import (
    APIError,
    AuthError,
    Backoff,
    BadRequest,
    ConnectError,
    DownloadError,
    FileTokenStore,
    Forbidden,
    PeerTube,
    RateLimit,
    RateLimited,
    RedirectError,
    RequestTimeout,
    ResponseDecodeError,
    ResponseTooLarge,
    ServerError,
    TokenPair,
    TransportError,
    Unauthorized,
    _errors,
)
from peertube_async._pipeline import Caller, Pipeline
from peertube_async._scheduler import Scheduler
from peertube_async._transport import DEFAULT_MAX_BODY_SIZE, RawResponse, Transport, new_session
from peertube_async.cli import EXIT_API, EXIT_NETWORK, main
from peertube_async.testing import Answer, HostileServer, ReceivedRequest
from tests.clitools import Background

ROOT = Path(__file__).resolve().parents[1]
FAST = Backoff(base=0.001, cap=0.01)
# A request without an answer may have been counted in a window the client cannot place:
# before sending again, the scheduler waits for that window to end. A short one keeps
# such tests quick.
SHORT = {"api": RateLimit(50, 0.2)}
TOKEN = "access-5ecret-0123456789abcdef"
REFRESH = "refresh-5ecret-fedcba9876543210"
PROBLEM = "application/problem+json; charset=utf-8"
DEEP = b"[" * 100_000 + b"]" * 100_000
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@pytest.fixture
def background() -> Iterator[Background]:
    """An event loop in another thread, for servers that ``main()`` (which runs its own
    loop) talks to."""
    servers = Background()
    yield servers
    servers.close()


def served(background: Background, server: HostileServer) -> str:
    background.call(server.start())
    background._cleanups.append(server.close)
    return str(server.url)


def video_json(n: int) -> dict[str, Any]:
    return {"id": n, "uuid": f"9c9de5e8-0a1e-484a-b099-e8076618{n:04d}", "name": f"v{n}"}


# -- 1. error bodies cannot freeze the loop ---------------------------------------------


async def test_1_error_bodies_are_redacted_only_where_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 24 KB word in a problem's detail, an 8 KB text error, a garbage 2xx: the
    redaction patterns only ever see the few short pieces an error keeps."""
    seen: list[int] = []
    original = _errors._redact_text

    def spy(text: str) -> str:
        seen.append(len(text))
        return original(text)

    monkeypatch.setattr(_errors, "_redact_text", spy)
    word = "a" * 24_000
    script = [
        Answer.json(
            {"type": "about:blank", "status": 400, "detail": word}, 400, content_type=PROBLEM
        ),
        Answer.text("b" * 8192, 500),
        Answer.text("c" * 8192, 200, content_type="application/json"),
        Answer.json(
            {"status": 400, "invalid-params": {word: {"msg": word, "value": word}}},
            400,
            content_type=PROBLEM,
        ),
    ]
    async with HostileServer(script) as server, PeerTube(server.url, retries=0) as pt:
        with pytest.raises(BadRequest) as bad:
            await pt.request("GET", "/api/v1/videos")
        with pytest.raises(ServerError):
            await pt.request("GET", "/api/v1/videos")
        with pytest.raises(ResponseDecodeError):
            await pt.request("GET", "/api/v1/videos")
        with pytest.raises(BadRequest) as params:
            await pt.request("GET", "/api/v1/videos")
    assert seen and max(seen) <= 8192
    # What is kept is cut, and says so.
    assert bad.value.problem.detail is not None
    assert bad.value.problem.detail.startswith("aaa") and len(bad.value.problem.detail) <= 1000
    assert len(str(bad.value)) < 400
    assert len(next(iter(params.value.invalid_params))) <= 300


_LINEAR_CHECK = """
import json
from peertube_async._errors import _redact_text, error_from_response

run = 1_000_000
inputs = [
    "a" * run,
    "Bearer " + "a" * run,
    "token" * (run // 5),
    '"token"' * (run // 7),
    "x" * 100 + "_password" * (run // 9),
    "<script" * (run // 7),
    "<!--" * (run // 4),
    "<" * run,
]
for text in inputs:
    _redact_text(text)
    for ctype in ("text/plain", "text/html", "application/json"):
        error_from_response(status=500, headers={"Content-Type": ctype},
                            body=text.encode(), method="GET", url="/x", secrets=["s3cr3t-tok"])
body = json.dumps({"detail": "a" * run, "invalid-params": {"p": {"msg": "b" * run}}}).encode()
error_from_response(status=400, headers={"Content-Type": "application/problem+json"},
                    body=body, method="GET", url="/x")
# Still redacted, however long what comes before.
assert "s3cr3t-v4lue" not in _redact_text("a" * run + " access_token=s3cr3t-v4lue")
assert "s3cr3t-v4lue" not in _redact_text("a" * run + " Bearer s3cr3t-v4lue")
print("done")
"""


def test_1_redaction_is_linear_on_adversarial_text() -> None:
    """Megabyte inputs built to make backtracking patterns explode: each is classified
    at once (quadratic patterns would take hours; the bound only catches a hang)."""
    done = subprocess.run(
        [sys.executable, "-c", _LINEAR_CHECK],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"


# -- 2. deep nesting is a decode error on every path ------------------------------------


async def test_2_deeply_nested_json_is_a_typed_error_everywhere() -> None:
    script = [
        Answer.json_body(DEEP),  # pt.request
        Answer.json_body(DEEP),  # a typed method
        Answer.json_body(DEEP, 400, content_type=PROBLEM),  # an error body
        Answer.json_body(b"[" * 900_000 + b"]" * 900_000),  # parsed in a worker thread
    ]
    async with HostileServer(script) as server, PeerTube(server.url, retries=0) as pt:
        with pytest.raises(ResponseDecodeError, match="nested too deeply"):
            await pt.request("GET", "/api/v1/videos")
        with pytest.raises(ResponseDecodeError, match="nested too deeply"):
            await pt.videos.get(1)
        with pytest.raises(BadRequest) as bad:
            await pt.request("GET", "/api/v1/videos")
        with pytest.raises(ResponseDecodeError, match="nested too deeply"):
            await pt.request("GET", "/api/v1/videos")
    assert len(bad.value.body_excerpt) <= 201


def test_2_cli_deep_nesting_exits_3_without_a_traceback(
    background: Background, capsys: pytest.CaptureFixture[str]
) -> None:
    url = served(background, HostileServer(Answer.json_body(DEEP)))
    assert main(["videos", "get", url, "1"]) == EXIT_API
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "nested too deeply" in err
    assert len(err.strip().splitlines()) == 1


# -- 3. a Retry-After of days never sleeps ----------------------------------------------


@pytest.mark.parametrize("from_limiter", [True, False], ids=["limiter", "proxy"])
async def test_3_retry_after_beyond_the_horizon_raises_when_limiting_is_off(
    from_limiter: bool,
) -> None:
    headers = [("Retry-After", "999999")]
    if from_limiter:
        headers += [("X-RateLimit-Limit", "50"), ("X-RateLimit-Remaining", "0")]
    refusal = Answer.text("Too many requests", 429, headers=headers)
    async with (
        HostileServer(refusal) as server,
        PeerTube(server.url, rate_limiting=False, backoff=FAST) as pt,
    ):
        with pytest.raises(RateLimited) as info:
            await asyncio.wait_for(pt.request("GET", "/api/v1/videos"), 60)
    assert info.value.retry_after == 999999.0
    assert info.value.sent is True
    assert len(server.requests) == 1  # refused at once, not after 11.6 days


class _Scripted:
    """A transport answering from a list, for pipeline unit tests (no network)."""

    def __init__(self, answers: list[RawResponse]) -> None:
        self.answers = answers
        self.sent = 0

    async def send(self, method: str, url: URL, **kwargs: Any) -> RawResponse:
        answer = self.answers[min(self.sent, len(self.answers) - 1)]
        self.sent += 1
        return answer


def _raw(status: int, headers: dict[str, str], body: bytes = b"") -> RawResponse:
    return RawResponse(status, "", CIMultiDictProxy(CIMultiDict(headers)), body)


@pytest.mark.parametrize(
    ("window", "retry_after", "waits"),
    [
        (10.0, 31.0, True),  # within 3 windows + 2 s of the seeded api limit
        (10.0, 33.0, False),
        (100.0, 200.0, True),  # an admin's longer window is honoured
        (100.0, 303.0, False),
    ],
)
async def test_3_the_horizon_follows_the_seeded_limit(
    window: float, retry_after: float, waits: bool
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    transport = _Scripted([_raw(429, {"Retry-After": str(retry_after)}), _raw(200, {}, b"{}")])
    scheduler = Scheduler({"api": RateLimit(50, window)}, enabled=False)
    pipeline = Pipeline(
        URL("http://127.0.0.1:9"), cast(Transport, transport), scheduler, sleep=sleep
    )
    if waits:
        assert (await pipeline.send("GET", "/api/v1/videos")).status == 200
        assert slept == [retry_after]
    else:
        with pytest.raises(RateLimited) as info:
            await pipeline.send("GET", "/api/v1/videos")
        assert info.value.retry_after == retry_after
        assert slept == []
    # max_wait is honoured below the horizon too.
    transport.sent = 0
    with pytest.raises(RateLimited):
        await pipeline.send("GET", "/api/v1/videos", max_wait=retry_after - 1)
    assert transport.sent == 1


# -- 4. a redirected download writes nothing --------------------------------------------


@pytest.mark.parametrize("partial", [b"", b"first half of the file "], ids=["fresh", "partial"])
async def test_4_a_redirected_download_leaves_the_file_as_it_was(
    tmp_path: Path, partial: bytes
) -> None:
    dest = tmp_path / "video.mp4"
    if partial:
        dest.write_bytes(partial)
    moved = Answer.redirect("http://127.0.0.2:1/elsewhere.mp4", 302)
    async with (
        HostileServer(moved) as server,
        PeerTube(server.url, token=TOKEN, check_server_version=False) as pt,
    ):
        with pytest.raises(DownloadError, match="redirect"):
            await pt.videos.generate_download(1, video_file_ids=[1], dest=dest)
    assert (dest.read_bytes() if dest.exists() else b"") == partial
    if partial:
        assert server.requests[0].headers["Range"] == f"bytes={len(partial)}-"


# -- 5. a redirect is a typed error, never followed -------------------------------------


async def test_5_a_redirect_raises_and_is_never_followed() -> None:
    async with HostileServer(Answer.json({"followed": True})) as elsewhere:
        target = str(elsewhere.url / "api/v1/videos") + f"?token={TOKEN}"
        script = [
            Answer.redirect(target, 302),
            Answer.redirect(target, 307),
            Answer.redirect(target, 301),
            Answer(304),
            Answer(304),
        ]
        async with HostileServer(script) as server, PeerTube(server.url, token=TOKEN) as pt:
            with pytest.raises(RedirectError) as info:
                await pt.request("GET", "/api/v1/videos", params={"count": 5})
            with pytest.raises(RedirectError):
                await pt.request("POST", "/api/v1/videos/1/views", json={})
            with pytest.raises(RedirectError):
                await pt.videos.get(1)
            with pytest.raises(RedirectError):
                await pt.request("GET", "/api/v1/config")
            # Not modified: the answer a conditional request asked for.
            assert await pt.request("GET", "/api/v1/config", headers={"If-None-Match": "x"}) is None
    err = info.value
    assert isinstance(err, APIError)
    assert err.status == 302
    assert err.location is not None and err.location.startswith(str(elsewhere.url))
    assert TOKEN not in err.location and TOKEN not in str(err)
    assert "not followed" in str(err) and "/api/v1/videos?count=5" in str(err)
    assert elsewhere.requests == []  # the bearer token never travelled
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is RedirectError and back.location == err.location


async def test_5_resumable_uploads_still_read_their_308s(tmp_path: Path) -> None:
    """The upload protocol's ``308 Resume Incomplete`` goes through the pipeline, below
    the level where redirects raise."""
    from peertube_async.testing import FakeInstance

    data = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "clip.mp4").write_bytes(data)
    async with FakeInstance(videos=1) as fake, PeerTube(fake.url) as pt:
        await pt.login("alice", fake.passwords["alice"])
        me = await pt.me.get()
        assert me.video_channels and me.video_channels[0].id is not None
        video = await pt.videos.upload(
            tmp_path / "clip.mp4",
            channel_id=me.video_channels[0].id,
            name="Chunks",
            chunk_size=1024 * 1024,
        )
    assert video.uuid is not None
    assert fake.stats.upload_chunks == 4


# -- 6. a dead instance fails fast; nothing is sent twice behind the scheduler ----------


async def test_6_a_black_holed_instance_is_a_connect_error_with_backoff() -> None:
    async with (
        HostileServer(accept=False) as server,
        PeerTube(server.url, timeout=1, backoff=FAST, retries=2) as pt,
    ):
        with pytest.raises(ConnectError, match="cannot connect"):
            await asyncio.wait_for(pt.request("GET", "/api/v1/config"), 60)
        snap = pt.rate_limits["api"]
    # Nothing was sent: every place was given back, and no window is waited for.
    assert snap.in_flight == 0
    assert snap.remaining == snap.limit


async def test_6_a_dropped_keep_alive_request_is_not_resent_behind_the_scheduler() -> None:
    script = [Answer.json({"n": 1}), Answer.drop(), Answer.json({"n": 3})]
    async with HostileServer(script) as server, PeerTube(server.url, retries=0) as pt:
        assert await pt.request("GET", "/api/v1/videos") == {"n": 1}
        with pytest.raises(TransportError):
            await pt.request("GET", "/api/v1/videos")
    # The second request reached the server once, on the kept-alive connection.
    assert len(server.requests) == 2
    assert [r.connection for r in server.requests] == [0, 0]


async def test_6_with_retries_the_pipeline_resends_and_counts_it() -> None:
    script = [Answer.json({"n": 1}), Answer.drop(), Answer.json({"n": 3})]
    async with HostileServer(script) as server, PeerTube(server.url, backoff=FAST) as pt:
        assert await pt.request("GET", "/api/v1/videos") == {"n": 1}
        assert await pt.request("GET", "/api/v1/videos") == {"n": 3}
        snap = pt.rate_limits["api"]
    assert len(server.requests) == 3
    # Everything the server saw was counted by the scheduler.
    assert snap.limit - snap.remaining == len(server.requests)


async def test_6_a_reset_connection_is_sent_again_by_the_pipeline_only() -> None:
    """Each attempt reaches the server once: before, aiohttp sent every GET twice."""
    async with (
        HostileServer(Answer.reset()) as server,
        PeerTube(server.url, backoff=FAST, retries=2, rate_limits=SHORT) as pt,
    ):
        with pytest.raises(TransportError):
            await pt.request("GET", "/api/v1/videos")
        assert len(server.requests) == 3  # the first try and two retries
        with pytest.raises(TransportError):
            await pt.request("POST", "/api/v1/videos/1/views", json={})
        assert len(server.requests) == 4  # a POST that may have been processed: once


async def test_6_sessions_the_client_creates_never_resend_on_their_own() -> None:
    session = new_session(connection_limit=4, timeout=5.0)
    try:
        assert getattr(session, "_retry_connection", False) is False
        assert session.timeout.sock_connect is not None
        assert session.timeout.total is not None
        assert session.timeout.sock_connect < session.timeout.total
    finally:
        await session.close()


# -- 7. an unusable answer exits 3, a dead network 4 ------------------------------------


def test_7_cli_broken_2xx_exits_3_and_a_dead_instance_4(
    background: Background, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = served(background, HostileServer(Answer.json_body(b'{"total": 3, "data": [')))
    assert main(["videos", "list", broken]) == EXIT_API
    err = capsys.readouterr().err
    assert err.startswith("error: the instance's answer cannot be used: invalid JSON")
    assert len(err.strip().splitlines()) == 1
    html = served(
        background, HostileServer(Answer.text("<html>hello</html>", 200, content_type="text/html"))
    )
    assert main(["videos", "get", html, "1"]) == EXIT_API
    assert "expected JSON" in capsys.readouterr().err
    big = served(
        background,
        HostileServer(Answer(200, headers={"Content-Length": str(1 << 40)}, keep_alive=False)),
    )
    assert main(["videos", "get", big, "1"]) == EXIT_API
    assert "max_body_size" in capsys.readouterr().err
    # A connection that never opens is the network's fault.
    gone = HostileServer()
    dead = served(background, gone)
    background.call(gone.close())  # nothing listens there any more: refused
    assert main(["videos", "get", dead, "1"]) == EXIT_NETWORK
    assert capsys.readouterr().err.startswith("network error:")


# -- 8. secrets ------------------------------------------------------------------------


def _texts(error: BaseException) -> str:
    parts = [str(error), repr(error), pickle.dumps(error).decode("latin-1")]
    if isinstance(error, APIError):
        parts += [repr(error.problem), error.body_excerpt]
    if isinstance(error, ResponseDecodeError):
        parts += [error.body_excerpt, error.message]
    return "\n".join(parts)


async def test_8_known_secrets_never_reach_an_exception() -> None:
    script = [
        Answer.text(f"the token {TOKEN} has no right here", 403),
        Answer.json(
            {
                "detail": f"refresh {REFRESH} is revoked",
                "title": TOKEN,
                "invalid-params": {"x": {"msg": TOKEN, "value": TOKEN}},
            },
            401,
            content_type=PROBLEM,
        ),
        Answer.json_body(f'{{"echo": "{TOKEN}", "broken": '.encode()),
        Answer.json({"id": TOKEN}, 200),  # does not fit the model: quoted in the message
        Answer.redirect(f"http://127.0.0.2/x?t={TOKEN}"),
    ]
    pair = TokenPair(access_token=TOKEN, refresh_token=REFRESH)
    expected = [Forbidden, Unauthorized, ResponseDecodeError, ResponseDecodeError, RedirectError]
    errors: list[BaseException] = []
    async with (
        HostileServer(script) as server,
        PeerTube(server.url, token=pair, retries=0, strict_decoding=True) as pt,
    ):
        for cls in expected:
            with pytest.raises(cls) as info:
                if cls is ResponseDecodeError and len(errors) == 3:
                    await pt.videos.get(1)
                else:
                    await pt.request("GET", "/api/v1/videos")
            text = _texts(info.value)
            assert TOKEN not in text and REFRESH not in text, text
            errors.append(info.value)
    assert "REDACTED" in str(errors[0])  # the message is still there, the token is not


async def test_8_a_password_and_client_secret_echoed_at_login_are_replaced() -> None:
    password, client_secret = "hunter22-pw", "client-5ecret-value"

    def answer(request: ReceivedRequest) -> Answer:
        if request.path == "/api/v1/oauth-clients/local":
            return Answer.json({"client_id": "cid", "client_secret": client_secret})
        return Answer.json(
            {
                "detail": f"no user with password {password} for client {client_secret}",
                "status": 400,
            },
            400,
            content_type=PROBLEM,
        )

    async with HostileServer(answer) as server, PeerTube(server.url) as pt:
        with pytest.raises((AuthError, APIError)) as info:
            await pt.login("bob", password)
    text = _texts(info.value)
    assert password not in text and client_secret not in text
    assert "no user with password REDACTED" in str(info.value)


_WRITER = """
import asyncio, sys
from peertube_async import FileTokenStore, TokenPair

store = FileTokenStore(sys.argv[1])
print("ready", flush=True)
n = 0
while True:
    n += 1
    pair = TokenPair(access_token=f"a-{n}-" + "x" * 2000, refresh_token=f"r-{n}")
    asyncio.run(store.save("https://peertube.example", f"user{n % 7}", pair))
"""


async def test_8_killed_writers_leave_at_most_one_temporary(tmp_path: Path) -> None:
    """SIGKILL a process writing the store at random moments, 25 times: at most one
    temporary file (mode 0600) is left, the store stays whole, and the next use removes
    the leftover."""
    path = tmp_path / "tokens.json"
    rnd = random.Random(12)
    for _ in range(25):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WRITER, str(path), cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
        await asyncio.sleep(rnd.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 30)
    others = sorted(
        p.name for p in tmp_path.iterdir() if p.name not in ("tokens.json", "tokens.json.lock")
    )
    assert len(others) <= 1, others
    for name in others:
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    store = FileTokenStore(path)
    if path.exists():
        json.loads(path.read_text())  # never a torn file
    await store.load("https://peertube.example", "user1")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n in ("tokens.json", "tokens.json.lock") if (tmp_path / n).exists()
    )


# -- 9. bounded bodies, big ones parsed off the loop ------------------------------------


async def test_9_a_body_announced_too_long_is_refused_unread() -> None:
    lying = Answer(
        200,
        b"{}",
        headers={"Content-Length": str(1 << 40), "Content-Type": "application/json"},
        keep_alive=False,
    )
    async with HostileServer(lying) as server, PeerTube(server.url) as pt:
        with pytest.raises(ResponseTooLarge) as info:
            await asyncio.wait_for(pt.request("GET", "/api/v1/videos"), 60)
    assert info.value.size == 1 << 40 and info.value.limit == DEFAULT_MAX_BODY_SIZE
    assert isinstance(info.value, ResponseDecodeError)
    assert len(server.requests) == 1  # an answer came: not retried


async def test_9_an_endless_or_compressed_body_is_cut_while_reading() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"[" + b"0," * 32_768

    bomb = gzip.compress(b" " * (8 << 20))  # 8 MiB of JSON whitespace in a few KB
    script = [
        Answer(200, endless, headers={"Content-Type": "application/json"}),
        Answer(200, bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}),
    ]
    async with HostileServer(script) as server, PeerTube(server.url, max_body_size=1 << 20) as pt:
        for _ in script:
            with pytest.raises(ResponseTooLarge) as info:
                await asyncio.wait_for(pt.request("GET", "/api/v1/videos"), 60)
            assert info.value.limit == 1 << 20 and info.value.size is None
    with pytest.raises(ValueError, match="max_body_size"):
        PeerTube("x.org", max_body_size=0)


async def test_9_a_huge_error_body_is_cut_not_read_whole() -> None:
    piece = b"<p>Service Unavailable</p>" * 4096

    def pages() -> Iterator[bytes]:
        for _ in range(1000):  # about 100 MiB, if it were all read
            yield piece

    error = Answer(503, pages, headers={"Content-Type": "text/html"})
    async with HostileServer(error) as server, PeerTube(server.url, retries=0) as pt:
        with pytest.raises(ServerError) as info:
            await pt.request("GET", "/api/v1/videos")
    assert info.value.problem.detail is not None
    assert info.value.problem.detail.startswith("Service Unavailable")
    assert server.answered == 0  # the client hung up after its first 256 KiB


async def test_9_big_bodies_and_long_lists_are_decoded_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from peertube_async import _pipeline

    threads: dict[str, list[str]] = {"parse": [], "structure": []}
    loads, structure = _pipeline._loads, Caller.structure

    def spy_loads(body: bytes) -> Any:
        threads["parse"].append(threading.current_thread().name)
        return loads(body)

    def spy_structure(self: Caller, *args: Any, **kwargs: Any) -> Any:
        threads["structure"].append(threading.current_thread().name)
        return structure(self, *args, **kwargs)

    monkeypatch.setattr(_pipeline, "_loads", spy_loads, raising=False)
    monkeypatch.setattr(Caller, "structure", spy_structure)
    big = {"total": 1, "data": [video_json(1)], "padding": "p" * (2 << 20)}
    long_page = {"total": 5000, "data": [video_json(i) for i in range(5000)]}
    script = [
        Answer.json({"n": 1}),
        Answer.json(big),
        Answer.json(video_json(7)),
        Answer.json(long_page),
    ]
    main_thread = threading.current_thread().name
    async with HostileServer(script) as server, PeerTube(server.url) as pt:
        assert await pt.request("GET", "/api/v1/x") == {"n": 1}
        assert (await pt.request("GET", "/api/v1/x"))["total"] == 1
        assert (await pt.videos.get(7)).id == 7
        page = await pt.videos.list(count=100)
    assert len(page.data) == 5000
    assert threads["parse"][0] == main_thread  # small: on the loop
    assert threads["parse"][1] != main_thread  # 2 MiB: in a worker thread
    assert threads["structure"][0] == main_thread  # one video
    assert threads["structure"][1] != main_thread  # 5,000 of them
    assert len(server.requests) == 4


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(
    value=json_values,
    indent=st.sampled_from([None, 1]),
    cut=st.integers(min_value=0, max_value=400),
    junk=st.sampled_from(["", " ", ",", "]", "}", ":", '"', "x", "[", "{", "\\", "1"]),
)
def test_9_big_bodies_parse_exactly_as_json_loads(
    value: Any, indent: int | None, cut: int, junk: str
) -> None:
    """The piece-by-piece parser of big bodies gives what ``json.loads`` gives, value or
    error, on valid JSON and on JSON cut short or with a stray character."""
    from peertube_async._pipeline import _loads_piecewise

    text = json.dumps(value, indent=indent)
    for candidate in (text, text[:cut] + junk + text[cut:], text[:cut]):
        body = candidate.encode()
        try:
            expected: Any = ("value", json.loads(body))
        except ValueError:
            expected = "error"
        try:
            got: Any = ("value", _loads_piecewise(body))
        except ValueError:
            got = "error"
        assert got == expected, candidate


# -- cells that held before the issue ---------------------------------------------------


async def test_a_body_cut_short_is_a_transport_error() -> None:
    cut = Answer.json({"data": ["x" * 5000]}, drop_after=100)
    async with HostileServer(cut) as server, PeerTube(server.url, retries=0) as pt:
        with pytest.raises(TransportError):
            await pt.request("GET", "/api/v1/videos")
    assert len(server.requests) == 1


@pytest.mark.parametrize("where", ["headers", "body"])
async def test_an_answer_that_stalls_is_a_timeout(where: str) -> None:
    if where == "headers":
        slow = Answer.json({}, delay=30)
    else:
        slow = Answer(
            200, [b"[", b"1", b"]"], headers={"Content-Type": "application/json"}, piece_delay=30
        )
    async with (
        HostileServer(slow) as server,
        PeerTube(server.url, timeout=0.3, backoff=FAST, retries=1, rate_limits=SHORT) as pt,
    ):
        with pytest.raises(RequestTimeout):
            await pt.request("GET", "/api/v1/videos")
        with pytest.raises(RequestTimeout):
            await pt.request("POST", "/api/v1/videos/1/views", json={})
    assert len(server.requests) == 3  # GET tried twice, POST once


async def test_an_instance_that_never_answers_times_out_and_hangs_nothing() -> None:
    async with (
        HostileServer(Answer.hang()) as server,
        PeerTube(server.url, timeout=0.3, retries=0) as pt,
    ):
        with pytest.raises(RequestTimeout):
            await pt.request("GET", "/api/v1/videos")
        snap = pt.rate_limits["api"]
    assert snap.in_flight == 0
    assert len(server.requests) == 1


async def test_cancelling_a_request_in_flight_leaves_nothing_behind() -> None:
    async with HostileServer(Answer.hang()) as server, PeerTube(server.url) as pt:
        task = asyncio.ensure_future(pt.request("GET", "/api/v1/videos"))
        await asyncio.wait_for(server.wait_for_requests(1), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        snap = pt.rate_limits["api"]
        assert snap.in_flight == 0
        assert snap.limit - snap.remaining == 1  # it may have been counted: kept counted
        assert pt.scheduler._waiting == 0


async def test_garbage_instead_of_http_is_a_transport_error() -> None:
    garbage = Answer.raw_bytes(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02")
    async with HostileServer(garbage) as server, PeerTube(server.url, token=TOKEN, retries=0) as pt:
        with pytest.raises(TransportError) as info:
            await pt.request("GET", "/api/v1/videos")
    assert TOKEN not in repr(info.value)
    assert info.value.__cause__ is None
    assert len(server.requests) == 1


async def test_proxy_pages_without_rate_limit_headers() -> None:
    script = [
        Answer.text(NGINX_502, 502, content_type="text/html"),
        Answer.text("<html><body>slow down</body></html>", 429, content_type="text/html"),
        Answer.json({"ok": True}),
    ]
    async with HostileServer(script) as server, PeerTube(server.url, backoff=FAST, retries=0) as pt:
        with pytest.raises(ServerError) as info:
            await pt.request("GET", "/api/v1/videos")
        assert info.value.problem.detail == "502 Bad Gateway nginx"
        # A proxy's 429 carries no budget facts: retried after a backoff, POST included.
        assert await pt.request("POST", "/api/v1/videos/1/views", json={}) == {"ok": True}
    assert len(server.requests) == 3


async def test_html_or_an_empty_body_for_a_model_is_a_decode_error() -> None:
    script = [
        Answer.text("<html><body>Welcome to nginx!</body></html>", 200, content_type="text/html"),
        Answer(200, b"", headers={"Content-Type": "application/json"}),
        Answer.json([1, 2, 3]),
    ]
    async with HostileServer(script) as server, PeerTube(server.url) as pt:
        for expected in ("expected JSON", "empty", "does not fit"):
            with pytest.raises(ResponseDecodeError, match=expected):
                await pt.videos.get(1)
    assert len(server.requests) == 3


async def test_the_kit_records_requests_and_serves_bodies_in_pieces() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for part in (b'{"a":', b" 1", b"}"):
            yield part

    script = [
        Answer(200, pieces, headers={"Content-Type": "application/json"}, piece_delay=0.01),
        Answer.json({"b": 2}, piece_size=1),
        Answer(200, b'{"c": 3}', headers={"Content-Type": "application/json"}, framing="close"),
    ]
    async with HostileServer(script) as server, PeerTube(server.url) as pt:
        assert await pt.request("GET", "/api/v1/a?x=%2F") == {"a": 1}
        assert await pt.request("POST", "/api/v1/b", json={"k": "v"}) == {"b": 2}
        assert await pt.request("GET", "/api/v1/c") == {"c": 3}
    first, second, _ = server.requests
    assert (first.method, first.path, first.query) == ("GET", "/api/v1/a", "x=%2F")
    assert json.loads(second.body) == {"k": "v"}
    assert second.headers["Content-Type"] == "application/json"
    assert server.connections >= 1 and server.answered == 3
    assert "HostileServer" in repr(server)
    with pytest.raises(ValueError, match="framing"):
        Answer(200, [b"x"], framing="length")


async def test_the_kit_closes_hung_connections() -> None:
    server = HostileServer(Answer.hang())
    await server.start()
    reader, writer = await asyncio.open_connection(server.url.host, server.url.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await asyncio.wait_for(server.wait_for_requests(1), 30)
    await server.close()
    assert await reader.read() == b""  # closed, not answered
    writer.close()
