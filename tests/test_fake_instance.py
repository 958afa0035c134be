"""FakeInstance over real sockets on 127.0.0.1, checked against a real PeerTube 6.3.

The expected headers and bodies below are copied from the responses of a real PeerTube
6.3.0 server (``peertube-samples.json`` in the shared folder). Where the fake runs on an
injected clock set to the sample's moment, whole header blocks must match to the byte.
Tests that need the large sample bodies read the shared file and skip without it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from yarl import URL

from peertube_async.testing import FakeInstance, uuid_to_short
from tests import fixtures

API = "api/v1"

# Every API response starts with these (helmet, cors, PeerTube), in this order.
COMMON = [
    ("x-powered-by", "PeerTube"),
    ("X-Frame-Options", "DENY"),
    ("Tk", "N"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
    ("Access-Control-Expose-Headers", "Retry-After"),
]
TOO_MANY = b"Too many requests, please try again later."
TOO_MANY_ETAG = 'W/"2a-UpTsLJ74nYuiLgNgEwlQMxGqwrE"'
EMPTY_LIST = b'{"total":0,"data":[]}'
EMPTY_LIST_ETAG = 'W/"15-8Qdp1BC8Hu+7bkzUyweccx1CijE"'

BAD_VIDEO_ID = (
    b'{"type":"about:blank","title":"Bad Request","detail":"Incorrect request parameters: id",'
    b'"instance":"/api/v1/videos/9c9de5e8-0a1e-484a-b099-e80766180","status":400,'
    b'"invalid-params":{"id":{"type":"field","value":"9c9de5e8-0a1e-484a-b099-e80766180",'
    b'"msg":"Should have a valid video id (id, short UUID or UUID)","path":"id",'
    b'"location":"params"}},"docs":"https://docs.joinpeertube.org/api-rest-reference.html'
    b'#operation/getVideo","error":"Incorrect request parameters: id"}'
)
COUNT_OVER_MAX = (
    b'{"type":"about:blank","title":"Bad Request","detail":"Incorrect request parameters: '
    b'count","instance":"/api/v1/videos?count=1000","status":400,"invalid-params":{"count":'
    b'{"type":"field","value":"1000","msg":"Should have a number count (max: 100)","path":'
    b'"count","location":"query"}},"docs":"https://docs.joinpeertube.org/api-rest-reference'
    b'.html#operation/getVideos","error":"Incorrect request parameters: count"}'
)
VIDEO_NOT_FOUND = (
    b'{"type":"about:blank","title":"Not Found","detail":"Video not found","status":404,'
    b'"docs":"https://docs.joinpeertube.org/api-rest-reference.html#operation/getVideo",'
    b'"error":"Video not found"}'
)
ME_NO_TOKEN = (
    b'{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/'
    b'unauthorized_request","detail":"Token is invalid","status":401,"code":'
    b'"unauthorized_request","error":"Token is invalid"}'
)
ME_INVALID_TOKEN = (
    b'{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/'
    b'invalid_token","detail":"Token is invalid","status":401,"code":"invalid_token",'
    b'"error":"Token is invalid"}'
)
ME_NO_BEARER = (
    b'{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/'
    b'invalid_request","detail":"Token is invalid","status":400,"code":"invalid_request",'
    b'"error":"Token is invalid"}'
)
REGISTER_DISABLED = (
    b'{"type":"about:blank","title":"Forbidden","detail":"User registration is not allowed",'
    b'"status":403,"error":"User registration is not allowed"}'
)
WRONG_PASSWORD = (
    b'{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/'
    b'invalid_grant","detail":"Invalid grant: user credentials are invalid","status":400,'
    b'"docs":"https://docs.joinpeertube.org/api-rest-reference.html#operation/getOAuthToken",'
    b'"code":"invalid_grant","error":"Invalid grant: user credentials are invalid"}'
)
TOKEN_OK_REDACTED = (
    b'{"token_type":"Bearer","access_token":"<token>","refresh_token":"<token>",'
    b'"expires_in":86399,"refresh_token_expires_in":1209599}'
)


class FakeClock:
    """A clock for the server that only moves when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Reply:
    """One request; headers come back as sent, minus aiohttp's own ``Server``."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with session.request(method, url, headers=sent, **kwargs) as response:
        body = await response.read()
        raw = [(k.decode(), v.decode()) for k, v in response.raw_headers]
        kept = [(k, v) for k, v in raw if k.lower() != "server"]
        return Reply(response.status, kept, body)


async def get(session: aiohttp.ClientSession, url: URL, **kwargs: Any) -> Reply:
    return await call(session, "GET", url, **kwargs)


def token_form(fake: FakeInstance, **fields: str) -> dict[str, str]:
    form = {"client_id": fake.client_id, "client_secret": fake.client_secret}
    form.update(fields)
    return form


async def login(session: aiohttp.ClientSession, fake: FakeInstance, user: str) -> Reply:
    form = token_form(fake, grant_type="password", username=user, password=fake.passwords[user])
    return await call(session, "POST", fake.url / API / "users/token", data=form)


def rate_headers(limit: int, remaining: int, date: str, reset: int) -> list[tuple[str, str]]:
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(remaining)),
        ("Date", date),
        ("X-RateLimit-Reset", str(reset)),
    ]


# ---------------------------------------------------------------------------------------
# Rate limiting, byte for byte against the samples


async def test_list_headers_match_sample_list_videos_empty(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(1_795_712_988.2)
    async with FakeInstance(videos=0, clock=clock) as fake:
        await get(session, fake.url / API / "videos")
        reply = await get(session, fake.url / API / "videos")

    assert reply.status == 200
    assert reply.body == EMPTY_LIST
    assert reply.headers == [
        *COMMON,
        *rate_headers(50, 48, "Thu, 26 Nov 2026 17:09:48 GMT", 1_795_712_999),
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", "21"),
        ("ETag", EMPTY_LIST_ETAG),
        ("Keep-Alive", "timeout=5"),
    ]


async def test_429_and_admin_bypass_match_samples(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(1_795_713_027.5)
    async with FakeInstance(videos=0, clock=clock) as fake:
        root = fake.issue_tokens("root").access_token
        for _ in range(50):
            assert (await get(session, fake.url / API / "videos")).status == 200
        clock.now = 1_795_713_028.6
        limited = await get(session, fake.url / API / "videos")
        bypass = await get(session, fake.url / API / "videos", token=root)
        stats = fake.stats

    window = rate_headers(50, 0, "Thu, 26 Nov 2026 17:10:28 GMT", 1_795_713_038)
    assert limited.status == 429
    assert limited.body == TOO_MANY
    assert limited.headers == [
        *COMMON,
        *window,
        ("Retry-After", "9"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", "42"),
        ("ETag", TOO_MANY_ETAG),
        ("Keep-Alive", "timeout=5"),
    ]
    # The administrator passes, and the response still says the window is spent.
    assert bypass.status == 200
    assert bypass.body == EMPTY_LIST
    assert bypass.headers == [
        *COMMON,
        *window,
        ("Retry-After", "9"),
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", "21"),
        ("ETag", EMPTY_LIST_ETAG),
        ("Keep-Alive", "timeout=5"),
    ]
    assert stats.requests == 52
    assert stats.rate_limited == 1
    assert stats.bypassed == 1
    assert stats.limiter_hits == {"api": 52}
    assert stats.limiter_rejections == {"api": 1}
    assert stats.statuses == {200: 51, 429: 1}


async def test_token_endpoint_reports_login_window_like_samples(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(1_795_712_991.4)
    async with FakeInstance(clock=clock) as fake:
        url = fake.url / API / "users/token"
        first = await login(session, fake, "root")
        await login(session, fake, "root")
        await login(session, fake, "root")
        clock.now = 1_795_713_045.3
        wrong = await call(
            session,
            "POST",
            url,
            data=token_form(fake, grant_type="password", username="root", password="nope"),
        )
        clock.now = 1_795_713_046.5
        replies = [await login(session, fake, "root") for _ in range(12)]
        stats = fake.stats

    assert first.status == 200
    assert first.headers[:10] == [
        *COMMON,
        *rate_headers(15, 14, "Thu, 26 Nov 2026 17:09:51 GMT", 1_795_713_292),
    ]
    assert first.headers[10:13] == [
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        ("Content-Type", "application/json; charset=utf-8"),
    ]
    assert [name for name, _ in first.headers[13:]] == ["Content-Length", "ETag", "Keep-Alive"]
    token = first.json()
    redacted = dict(token, access_token="<token>", refresh_token="<token>")
    assert json.dumps(redacted, separators=(",", ":")).encode() == TOKEN_OK_REDACTED
    assert len(token["access_token"]) == 40
    assert token["access_token"] != token["refresh_token"]

    assert wrong.status == 400
    assert wrong.body == WRONG_PASSWORD
    assert wrong.headers == [
        *COMMON,
        *rate_headers(15, 11, "Thu, 26 Nov 2026 17:10:45 GMT", 1_795_713_292),
        ("Content-Type", "application/problem+json; charset=utf-8"),
        ("Content-Length", "325"),
        ("ETag", 'W/"145-o3YMSUw6OM/8DD7QN8lY+MZJHMQ"'),
        ("Keep-Alive", "timeout=5"),
    ]

    # Failed logins count too: four spent, eleven left, the twelfth is refused.
    assert [r.status for r in replies] == [200] * 11 + [429]
    assert replies[-1].headers == [
        *COMMON,
        *rate_headers(15, 0, "Thu, 26 Nov 2026 17:10:46 GMT", 1_795_713_292),
        ("Retry-After", "245"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", "42"),
        ("ETag", TOO_MANY_ETAG),
        ("Keep-Alive", "timeout=5"),
    ]
    assert stats.limiter_hits == {"api": 16, "login": 16}
    assert stats.limiter_rejections == {"login": 1}
    assert stats.logins == 14


async def test_token_requests_spend_the_api_budget_too(session: aiohttp.ClientSession) -> None:
    async with FakeInstance() as fake:
        token = await login(session, fake, "alice")
        listing = await get(session, fake.url / API / "videos")

    assert (token.header("X-RateLimit-Limit"), token.header("X-RateLimit-Remaining")) == (
        "15",
        "14",
    )
    # The token request took one from the api window before this request took another.
    assert (listing.header("X-RateLimit-Limit"), listing.header("X-RateLimit-Remaining")) == (
        "50",
        "48",
    )


async def test_api_refusal_stops_before_the_login_limiter(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeInstance(limits={"api": (2, 10), "login": (5, 300)}) as fake:
        replies = [await login(session, fake, "root") for _ in range(3)]
        stats = fake.stats

    assert [r.status for r in replies] == [200, 200, 429]
    # The api limiter answered: its numbers are in the headers and login never saw it.
    assert replies[2].header("X-RateLimit-Limit") == "2"
    assert replies[2].header("Retry-After") is not None
    assert stats.limiter_hits == {"api": 3, "login": 2}
    assert stats.limiter_rejections == {"api": 1}


async def test_retry_after_only_once_exceeded_and_rejected_requests_count(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(1_800_000_000.25)
    async with FakeInstance(limits={"api": (3, 10)}, clock=clock) as fake:
        replies = []
        for _ in range(6):
            replies.append(await get(session, fake.url / API / "config"))
            clock.now += 1
        clock.now = 1_800_000_010.25
        fresh = await get(session, fake.url / API / "config")

    assert [r.status for r in replies] == [200, 200, 200, 429, 429, 429]
    assert [r.header("X-RateLimit-Remaining") for r in replies] == ["2", "1", "0", "0", "0", "0"]
    assert [r.header("Retry-After") for r in replies] == [None, None, None, "7", "6", "5"]
    assert {r.header("X-RateLimit-Reset") for r in replies} == {"1800000011"}
    # At the window's end the next request opens a new window from zero.
    assert fresh.status == 200
    assert fresh.header("X-RateLimit-Remaining") == "2"
    assert fresh.header("X-RateLimit-Reset") == "1800000021"
    assert fresh.header("Retry-After") is None


async def test_compressed_window_rolls_over_in_real_time(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeInstance(limits={"api": (2, 0.3)}) as fake:
        url = fake.url / API / "videos/categories"
        first = [await get(session, url) for _ in range(3)]
        reset_at = int(first[0].header("X-RateLimit-Reset") or 0)
        await asyncio.sleep(0.35)
        after = await get(session, url)

    assert [r.status for r in first] == [200, 200, 429]
    assert first[2].header("Retry-After") == "1"
    assert reset_at >= math.floor(time.time() - 1)
    assert after.status == 200
    assert after.header("X-RateLimit-Remaining") == "1"


async def test_moderator_passes_user_does_not_and_bad_token_is_refused(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeInstance(moderator="mod", limits={"api": (1, 60)}) as fake:
        url = fake.url / API / "videos"
        tokens = {name: fake.issue_tokens(name).access_token for name in ("mod", "alice")}
        await get(session, url)
        moderator = await get(session, url, token=tokens["mod"])
        user = await get(session, url, token=tokens["alice"])
        garbage = await get(session, url, token="garbage")
        malformed = await get(session, url, headers={"Authorization": "Basic Zm9v"})
        stats = fake.stats

    assert moderator.status == 200
    assert moderator.header("X-RateLimit-Remaining") == "0"
    assert moderator.header("Retry-After") is not None
    assert user.status == 429
    assert user.body == TOO_MANY
    # The limit handler authenticates the token: a bad one fails as authentication does.
    assert garbage.status == 401
    assert garbage.body == ME_INVALID_TOKEN
    assert garbage.header("Retry-After") is not None
    assert malformed.status == 400
    assert malformed.body == ME_NO_BEARER
    assert stats.bypassed == 1
    assert stats.rate_limited == 1


async def test_x_forwarded_for_keys_separate_clients(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(limits={"api": (2, 60)}) as fake:
        url = fake.url / API / "config"
        client_a = [
            await get(session, url, headers={"X-Forwarded-For": "198.51.100.7"}) for _ in range(3)
        ]
        client_b = await get(session, url, headers={"X-Forwarded-For": "203.0.113.9"})
        # With a proxy chain, the nearest hop that is not loopback is the client.
        chained = await get(session, url, headers={"X-Forwarded-For": "192.0.2.1, 203.0.113.9"})
        direct = await get(session, url)
        keys = len(fake.limiters["api"])

    assert [r.status for r in client_a] == [200, 200, 429]
    assert client_b.status == 200
    assert client_b.header("X-RateLimit-Remaining") == "1"
    assert chained.header("X-RateLimit-Remaining") == "0"
    assert direct.status == 200
    assert direct.header("X-RateLimit-Remaining") == "1"
    assert keys == 3


async def test_signup_counts_only_successful_registrations(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(1_795_713_006.3)
    async with FakeInstance(clock=clock) as fake:
        url = fake.url / API / "users/register"
        body = {"username": "bob", "password": "bob-password", "email": "bob@example.com"}
        disabled = [await call(session, "POST", url, json=body) for _ in range(5)]

    # Registration is closed, so every attempt fails and hands its hit back.
    assert [r.status for r in disabled] == [403] * 5
    assert disabled[0].body == REGISTER_DISABLED
    assert disabled[0].headers == [
        *COMMON,
        *rate_headers(2, 1, "Thu, 26 Nov 2026 17:10:06 GMT", 1_795_713_307),
        ("Content-Type", "application/problem+json; charset=utf-8"),
        ("Content-Length", "142"),
        ("ETag", 'W/"8e-nPt7GvQO7zC0tAv3ha8D73wjpI4"'),
        ("Keep-Alive", "timeout=5"),
    ]
    assert {r.header("X-RateLimit-Remaining") for r in disabled} == {"1"}


async def test_signup_open_spends_budget_on_success_only(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeInstance(signup_allowed=True) as fake:
        url = fake.url / API / "users/register"

        async def register(name: str, password: str = "long-enough") -> Reply:
            address = f"{name.lower().replace(' ', '')}@example.com"
            body = {"username": name, "password": password, "email": address}
            return await call(session, "POST", url, json=body)

        request_url = fake.url / API / "users/registrations/request"
        valid = {"username": "zoe", "password": "long-enough", "email": "zoe@example.com"}
        invalid = await register("Bad Name", "x")
        first = await register("bob")
        duplicate = await register("bob")
        approval = await call(session, "POST", request_url, json=valid)
        second = await register("carol")
        third = await register("dave")
        request = await call(session, "POST", request_url, json=valid)
        bob_login = await call(
            session,
            "POST",
            fake.url / API / "users/token",
            data=token_form(fake, grant_type="password", username="bob", password="long-enough"),
        )
        me = await get(session, fake.url / API / "users/me", token=bob_login.json()["access_token"])

    assert invalid.status == 400
    assert invalid.json()["detail"] == "Incorrect request parameters: username, password"
    assert invalid.json()["invalid-params"]["password"] == {
        "type": "field",
        "value": "x",
        "msg": "Invalid value",
        "path": "password",
        "location": "body",
    }
    assert (first.status, first.header("X-RateLimit-Remaining")) == (204, "1")
    assert first.header("Content-Type") is None
    assert duplicate.status == 409
    assert duplicate.header("X-RateLimit-Remaining") == "0"
    assert approval.status == 400
    assert approval.json()["detail"] == "Signup approval is not enabled on this instance"
    assert (second.status, second.header("X-RateLimit-Remaining")) == (204, "0")
    assert third.status == 429
    assert third.header("X-RateLimit-Limit") == "2"
    # A refused registration request is a failure too: it is still answered.
    assert request.status == 429
    assert bob_login.status == 200
    assert bob_login.header("X-RateLimit-Limit") == "15"
    assert me.json()["username"] == "bob"
    assert me.json()["role"] == {"id": 2, "label": "User"}
    # Watch-later ids follow the seeded ones (root 1, alice 2, public playlists 3 and 4).
    assert me.json()["specialPlaylists"] == [{"id": 5, "name": "Watch later", "type": 2}]


async def test_registration_validation_omits_absent_values(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeInstance(signup_allowed=True) as fake:
        reply = await call(
            session, "POST", fake.url / API / "users/register", json={"username": "erin"}
        )

    assert reply.status == 400
    problem = reply.json()
    assert problem["detail"] == "Incorrect request parameters: password, email"
    assert problem["instance"] == "/api/v1/users/register"
    assert problem["invalid-params"]["email"] == {
        "type": "field",
        "msg": "Invalid value",
        "path": "email",
        "location": "body",
    }


async def test_ask_send_verify_email_limit(session: aiohttp.ClientSession) -> None:
    async with FakeInstance() as fake:
        urls = [
            fake.url / API / "users/ask-send-verify-email",
            fake.url / API / "users/registrations/ask-send-verify-email",
        ]
        invalid = await call(session, "POST", urls[0], json={"email": "not-an-email"})
        replies = [
            await call(session, "POST", urls[n % 2], json={"email": "alice@peertube.local"})
            for n in range(3)
        ]

    assert invalid.status == 400
    assert invalid.header("X-RateLimit-Limit") == "3"
    assert [r.status for r in replies] == [204, 204, 429]
    assert replies[0].header("X-RateLimit-Remaining") == "1"
    assert replies[0].body == b""


async def test_rate_limit_off_sends_no_limit_headers(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(rate_limit=False, limits={"api": (1, 60)}) as fake:
        replies = [await get(session, fake.url / API / "videos") for _ in range(5)]
        stats = fake.stats

    assert [r.status for r in replies] == [200] * 5
    names = {name for name, _ in replies[0].headers}
    assert not {n for n in names if n.startswith("X-RateLimit") or n == "Retry-After"}
    assert replies[0].headers[:6] == COMMON
    assert stats.limiter_hits == {}
    assert stats.requests == 5


async def test_expired_windows_are_forgotten(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(1_700_000_000.0)
    async with FakeInstance(clock=clock) as fake:
        for number in range(30):
            forwarded = {"X-Forwarded-For": f"10.1.0.{number}"}
            await get(session, fake.url / API / "config", headers=forwarded)
        before = len(fake.limiters["api"])
        clock.now += 11
        await get(session, fake.url / API / "config")
        after = len(fake.limiters["api"])

    assert (before, after) == (30, 1)


# ---------------------------------------------------------------------------------------
# Errors


async def test_error_bodies_match_samples(session: aiohttp.ClientSession) -> None:
    async with FakeInstance() as fake:
        bad_id = await get(session, fake.url / API / "videos/9c9de5e8-0a1e-484a-b099-e80766180")
        over = await get(session, fake.url.with_path("/api/v1/videos").with_query(count=1000))
        missing = await get(session, fake.url / API / "videos/00000000-0000-4000-8000-000000000000")
        no_token = await get(session, fake.url / API / "users/me")
        bad_token = await get(session, fake.url / API / "users/me", token="garbage")
        no_bearer = await get(
            session, fake.url / API / "users/me", headers={"Authorization": "garbage"}
        )

    expected = [
        (bad_id, 400, BAD_VIDEO_ID, 'W/"1d3-/wp8f/ZuXr7Gk+bEZZNLtfXb7mw"'),
        (over, 400, COUNT_OVER_MAX, 'W/"19b-ZIro/U3EI5OTFTOdOVksr7Lla90"'),
        (missing, 404, VIDEO_NOT_FOUND, 'W/"be-2GCMlGwVev25OE7vli/1NdrrI2g"'),
        (no_token, 401, ME_NO_TOKEN, 'W/"c6-VISJGJ9CHnyoAze/BqxAlZMg+sk"'),
        (bad_token, 401, ME_INVALID_TOKEN, 'W/"b8-KSDjFbyWfY17GoylD2VgJejRWbQ"'),
        (no_bearer, 400, ME_NO_BEARER, 'W/"bc-ibs8c2oBAxwObUBcMGNuUi9PaDs"'),
    ]
    for reply, status, body, etag in expected:
        assert reply.status == status
        assert reply.body == body
        assert reply.header("Content-Type") == "application/problem+json; charset=utf-8"
        assert reply.header("ETag") == etag
        # No WWW-Authenticate on 401s, like PeerTube.
        assert reply.header("WWW-Authenticate") is None


async def test_unknown_api_route_is_an_empty_400_and_still_counted(
    session: aiohttp.ClientSession,
) -> None:
    # As the corpus shows for every route PeerTube 6.3 lacks (e.g. token-sessions).
    sample = next(
        s
        for s in fixtures.corpus()["samples"]
        if s["operation"] == "GET /api/v1/users/{id}/token-sessions"
    )
    assert (sample["status"], sample["body"]) == (400, "")
    async with FakeInstance() as fake:
        unknown = await get(session, fake.url / API / "no-such-thing")
        wrong_method = await call(session, "DELETE", fake.url / API / "videos")
        stats = fake.stats

    for reply in (unknown, wrong_method):
        assert reply.status == 400
        assert reply.header("Content-Type") == "application/json; charset=utf-8"
        assert reply.header("Content-Length") == "0"
        assert reply.body == b""
    assert unknown.header("X-RateLimit-Remaining") == "49"
    assert wrong_method.header("X-RateLimit-Remaining") == "48"
    assert stats.routes == {"GET /api/v1/no-such-thing": 1, "DELETE /api/v1/videos": 1}


# ---------------------------------------------------------------------------------------
# Videos and pagination


async def test_pagination_defaults_and_bounds(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=40, rate_limit=False) as fake:
        videos = fake.url / API / "videos"

        async def page(**query: str) -> Reply:
            return await get(session, videos.with_query(query))

        default = await page()
        window = await page(start="5", count="3", sort="publishedAt")
        zero = await page(count="0")
        hundred = await page(count="100")
        beyond = await page(start="39", count="10")
        past_end = await page(start="400")
        failures = {
            "count=101": await page(count="101"),
            "count=-1": await page(count="-1"),
            "count=abc": await page(count="abc"),
            "count=1.5": await page(count="1.5"),
            "start=-1": await page(start="-1"),
            "start=": await page(start=""),
            "sort=nope": await page(sort="nope"),
            "sort=--name": await page(sort="--name"),
        }
        both = await page(start="-1", count="500", sort="nope")

    assert default.json()["total"] == 40
    assert len(default.json()["data"]) == 15
    # Newest first by default.
    assert [v["id"] for v in default.json()["data"]] == list(range(40, 25, -1))
    assert [v["id"] for v in window.json()["data"]] == [6, 7, 8]
    assert zero.json() == {"total": 40, "data": []}
    assert len(hundred.json()["data"]) == 40
    assert [v["id"] for v in beyond.json()["data"]] == [1]
    assert past_end.json() == {"total": 40, "data": []}
    for name, reply in failures.items():
        assert reply.status == 400, name
        field = name.split("=")[0]
        assert reply.json()["detail"] == f"Incorrect request parameters: {field}"
        assert list(reply.json()["invalid-params"]) == [field]
    assert failures["start=-1"].json()["invalid-params"]["start"]["msg"] == "Invalid value"
    assert failures["sort=nope"].json()["invalid-params"]["sort"] == {
        "type": "field",
        "value": "nope",
        "msg": "Invalid value",
        "path": "sort",
        "location": "query",
    }
    # Pagination is validated before sorting, and reports all of its fields at once.
    assert both.json()["detail"] == "Incorrect request parameters: start, count"


async def test_sorting_and_skip_count(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=30, rate_limit=False) as fake:
        videos = fake.url / API / "videos"

        async def ids(**query: str) -> list[int]:
            reply = await get(session, videos.with_query(count="100", **query))
            return [v["id"] for v in reply.json()["data"]]

        ascending = await ids(sort="publishedAt")
        by_views = (await get(session, videos.with_query(count="100", sort="-views"))).json()
        by_name = (await get(session, videos.with_query(count="100", sort="name"))).json()
        skipped = await get(session, videos.with_query(skipCount="true"))
        counted = await get(session, videos.with_query(skipCount="false"))
        null = await get(session, videos.with_query(skipCount="null"))
        by_id = await get(session, videos.with_query(sort="id"))

    assert ascending == list(range(1, 31))
    views = [v["views"] for v in by_views["data"]]
    assert views == sorted(views, reverse=True)
    names = [v["name"] for v in by_name["data"]]
    assert names == sorted(names)
    assert "total" not in skipped.json()
    assert len(skipped.json()["data"]) == 15
    assert counted.json()["total"] == 30
    assert null.status == 400
    assert null.json()["invalid-params"]["skipCount"]["msg"] == (
        "Should have a valid skipCount boolean"
    )
    # PeerTube cannot sort videos by id: only its declared columns are accepted.
    assert by_id.status == 400


async def test_crawling_every_page_yields_each_video_once(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeInstance(videos=97, rate_limit=False) as fake:
        seen: list[int] = []
        start = 0
        while True:
            query = {"start": str(start), "count": "25", "sort": "-publishedAt"}
            reply = await get(session, (fake.url / API / "videos").with_query(query))
            data = reply.json()["data"]
            if not data:
                break
            seen.extend(v["id"] for v in data)
            start += len(data)

    assert sorted(seen) == list(range(1, 98))
    assert len(seen) == len(set(seen))


async def test_video_by_id_uuid_and_short_uuid(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=12) as fake:
        seeded = fake.videos[6]
        base = fake.url / API / "videos"
        by_id = await get(session, base / str(seeded.id))
        by_uuid = await get(session, base / seeded.uuid)
        by_upper = await get(session, base / seeded.uuid.upper())
        by_short = await get(session, base / seeded.short_uuid)
        unknown_short = await get(session, base / uuid_to_short(uuid.UUID(int=5, version=4)))
        not_an_id = await get(session, base / "hello")
        version_one = await get(session, base / str(uuid.uuid1()))
        host = fake.host

    assert seeded.id == 7
    assert by_id.status == 200
    assert by_id.body == by_uuid.body == by_upper.body == by_short.body
    video = by_id.json()
    parsed = uuid.UUID(video["uuid"])
    assert parsed.version == 4
    assert video["shortUUID"] == uuid_to_short(parsed) == seeded.short_uuid
    assert video["url"] == f"http://{host}/videos/watch/{seeded.uuid}"
    assert video["channel"]["host"] == host
    assert video["account"]["name"] == seeded.account
    assert unknown_short.status == 404
    for reply in (not_an_id, version_one):
        assert reply.status == 400
        assert reply.json()["invalid-params"]["id"]["location"] == "params"


async def test_seeded_data_is_deterministic() -> None:
    async with FakeInstance(videos=5) as first, FakeInstance(videos=5) as second:
        assert first.videos == second.videos
        assert first.port != second.port
    names = [v.name for v in first.videos]
    assert len(set(names)) == 5
    assert [v.account for v in first.videos] == ["root", "alice", "root", "alice", "root"]


async def test_conditional_get_and_head(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=3) as fake:
        url = fake.url / API / "videos/1"
        full = await get(session, url)
        etag = full.header("ETag") or ""
        cached = await get(session, url, headers={"If-None-Match": etag})
        head = await call(session, "HEAD", url)

    assert full.status == 200
    assert cached.status == 304
    assert cached.body == b""
    assert cached.header("ETag") == etag
    assert head.status == 200
    assert head.header("Content-Length") == full.header("Content-Length")


# ---------------------------------------------------------------------------------------
# Other resources


async def test_accounts_channels_playlists_and_comments(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=8, rate_limit=False) as fake:
        base = fake.url / API
        accounts = (await get(session, base / "accounts")).json()
        account = await get(session, base / "accounts/alice")
        remote_account = await get(session, base / "accounts/alice@elsewhere.example")
        missing_account = await get(session, base / "accounts/nobody")
        channels = (await get(session, base / "video-channels")).json()
        channel = await get(session, base / f"video-channels/root_channel@{fake.host}")
        missing_channel = await get(session, base / "video-channels/nope")
        playlists = (await get(session, base / "video-playlists")).json()
        threads = (await get(session, base / "videos/3/comment-threads")).json()
        no_threads = (await get(session, base / "videos/4/comment-threads")).json()
        bad_thread_video = await get(session, base / "videos/x/comment-threads")
        bad_sort = await get(session, (base / "accounts").with_query(sort="name"))

    assert [a["name"] for a in accounts["data"]] == ["alice", "root", "peertube"]
    assert accounts["total"] == 3
    assert "userId" not in accounts["data"][2]
    assert account.json()["userId"] == 2
    assert remote_account.status == missing_account.status == 404
    assert missing_account.json()["detail"] == "Account not found"
    assert [c["name"] for c in channels["data"]] == ["alice_channel", "root_channel"]
    assert channels["data"][0]["ownerAccount"]["name"] == "alice"
    assert channel.json()["displayName"] == "Main root channel"
    assert missing_channel.json()["detail"] == "Video channel not found"
    assert playlists["total"] == 2
    assert {p["ownerAccount"]["name"] for p in playlists["data"]} == {"root", "alice"}
    assert threads["total"] == threads["totalNotDeletedComments"] == 3
    assert list(threads) == ["total", "data", "totalNotDeletedComments"]
    assert [t["videoId"] for t in threads["data"]] == [3, 3, 3]
    assert no_threads == {"total": 0, "data": [], "totalNotDeletedComments": 0}
    assert bad_thread_video.json()["invalid-params"]["videoId"]["path"] == "videoId"
    assert bad_sort.status == 400


async def test_users_me_for_each_role(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(users={"root": "r00t-pw", "alice": "a", "bob": "b"}) as fake:
        replies = {}
        for name in ("root", "alice", "bob"):
            token = fake.issue_tokens(name).access_token
            replies[name] = (await get(session, fake.url / API / "users/me", token=token)).json()

    assert fake.passwords == {"root": "r00t-pw", "alice": "a", "bob": "b"}
    assert replies["root"]["role"] == {"id": 0, "label": "Administrator"}
    assert replies["root"]["email"] == "admin@peertube.local"
    assert replies["alice"]["role"] == {"id": 2, "label": "User"}
    assert replies["bob"]["id"] == 3
    assert [c["name"] for c in replies["bob"]["videoChannels"]] == ["bob_channel"]
    assert "ownerAccount" not in replies["bob"]["videoChannels"][0]


# ---------------------------------------------------------------------------------------
# OAuth


async def test_oauth_client_and_password_then_refresh_grant(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeInstance() as fake:
        client = await get(session, fake.url / API / "oauth-clients/local")
        foreign = await get(
            session, fake.url / API / "oauth-clients/local", headers={"Host": "evil.example"}
        )
        form = {
            **client.json(),
            "grant_type": "password",
            "username": "ALICE",
            "password": fake.passwords["alice"],
        }
        first = (await call(session, "POST", fake.url / API / "users/token", data=form)).json()
        refresh_form = {**client.json(), "grant_type": "refresh_token"}
        refresh_form["refresh_token"] = first["refresh_token"]
        second = (
            await call(session, "POST", fake.url / API / "users/token", data=refresh_form)
        ).json()
        replay = await call(session, "POST", fake.url / API / "users/token", data=refresh_form)
        old = await get(session, fake.url / API / "users/me", token=first["access_token"])
        new = await get(session, fake.url / API / "users/me", token=second["access_token"])
        stats = fake.stats

    assert client.json() == {"client_id": fake.client_id, "client_secret": fake.client_secret}
    assert foreign.status == 403
    assert foreign.body == b""
    assert list(second) == [
        "token_type",
        "access_token",
        "refresh_token",
        "expires_in",
        "refresh_token_expires_in",
    ]
    assert second["access_token"] != first["access_token"]
    assert replay.status == 400
    assert replay.json()["code"] == "invalid_grant"
    assert replay.json()["detail"] == "Invalid grant: refresh token is invalid"
    assert old.status == 401
    assert old.json()["code"] == "invalid_token"
    assert new.json()["username"] == "alice"
    assert new.json()["lastLoginDate"] is not None
    assert (stats.logins, stats.refreshes) == (1, 1)


async def test_token_lifetimes_and_expiry(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(1_750_000_000.0)
    async with FakeInstance(
        clock=clock, access_token_lifetime=60, refresh_token_lifetime=120
    ) as fake:
        token = (await login(session, fake, "alice")).json()
        clock.now += 61
        expired = await get(session, fake.url / API / "users/me", token=token["access_token"])
        refresh = token_form(fake, grant_type="refresh_token", refresh_token=token["refresh_token"])
        renewed = await call(session, "POST", fake.url / API / "users/token", data=refresh)
        clock.now += 121
        stale = token_form(
            fake, grant_type="refresh_token", refresh_token=renewed.json()["refresh_token"]
        )
        too_late = await call(session, "POST", fake.url / API / "users/token", data=stale)

    assert (token["expires_in"], token["refresh_token_expires_in"]) == (59, 119)
    assert expired.status == 401
    assert expired.body == ME_INVALID_TOKEN
    assert renewed.status == 200
    assert too_late.json()["detail"] == "Invalid grant: refresh token has expired"


@pytest.mark.parametrize(
    ("fields", "code", "detail"),
    [
        ({"client_id": ""}, "invalid_client", "Invalid client: cannot retrieve client credentials"),
        ({"client_secret": "wrong"}, "invalid_client", "Invalid client: client is invalid"),
        ({"grant_type": ""}, "invalid_request", "Missing parameter: `grant_type`"),
        (
            {"grant_type": "client_credentials"},
            "unsupported_grant_type",
            "Unsupported grant type: `grant_type` is invalid",
        ),
        ({"username": ""}, "invalid_request", "Missing parameter: `username`"),
        ({"username": "nobody"}, "invalid_grant", "Invalid grant: user credentials are invalid"),
    ],
)
async def test_token_errors(
    session: aiohttp.ClientSession, fields: dict[str, str], code: str, detail: str
) -> None:
    async with FakeInstance() as fake:
        form = token_form(fake, grant_type="password", username="alice", password="x")
        form.update(fields)
        reply = await call(session, "POST", fake.url / API / "users/token", data=form)

    assert reply.status == 400
    problem = reply.json()
    assert (problem["code"], problem["detail"], problem["error"]) == (code, detail, detail)
    assert problem["docs"].endswith("#operation/getOAuthToken")
    assert reply.header("X-RateLimit-Limit") == "15"


async def test_token_endpoint_wants_a_form(session: aiohttp.ClientSession) -> None:
    async with FakeInstance() as fake:
        body = token_form(fake, grant_type="password", username="alice", password="x")
        reply = await call(session, "POST", fake.url / API / "users/token", json=body)

    assert reply.status == 400
    assert reply.json()["code"] == "invalid_request"


# ---------------------------------------------------------------------------------------
# Stats and lifecycle


async def test_stats_routes_statuses_and_reset(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=3) as fake:
        await get(session, fake.url / API / "videos")
        await get(session, fake.url / API / "videos/1")
        await get(session, fake.url / API / "videos/2")
        await get(session, fake.url / API / "videos/99")
        snapshot = fake.stats
        fake.reset_stats()
        await get(session, fake.url / API / "config")
        after = fake.stats

    assert snapshot.routes == {"GET /api/v1/videos": 1, "GET /api/v1/videos/{id}": 3}
    assert snapshot.statuses == {200: 3, 404: 1}
    assert snapshot.requests == 4
    assert snapshot.max_in_flight == 1
    assert after.requests == 1
    assert after.routes == {"GET /api/v1/config": 1}


async def test_concurrent_requests_are_tracked(session: aiohttp.ClientSession) -> None:
    async with FakeInstance(videos=50, limits={"api": (1000, 10)}) as fake:
        url = fake.url / API / "videos"
        replies = await asyncio.gather(*(get(session, url) for _ in range(200)))
        stats = fake.stats

    assert all(r.status == 200 for r in replies)
    assert stats.requests == 200
    assert stats.in_flight == 0
    assert stats.max_in_flight >= 1
    remaining = sorted(int(r.header("X-RateLimit-Remaining") or -1) for r in replies)
    assert remaining == list(range(800, 1000))


async def test_lifecycle(session: aiohttp.ClientSession) -> None:
    fake = FakeInstance(videos=1)
    with pytest.raises(RuntimeError):
        _ = fake.url
    await fake.start()
    try:
        assert fake.url == URL(f"http://127.0.0.1:{fake.port}")
        assert (await get(session, fake.url / API / "config")).status == 200
        with pytest.raises(RuntimeError):
            await fake.start()
    finally:
        await fake.close()
        await fake.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(session, fake.url / API / "config")


async def test_serve_runs_until_cancelled(session: aiohttp.ClientSession) -> None:
    fake = FakeInstance(videos=1)
    task = asyncio.create_task(fake.serve())
    for _ in range(200):
        await asyncio.sleep(0.01)
        if fake.started:
            break
    assert (await get(session, fake.url / API / "videos/1")).status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(session, fake.url / API / "config")


async def test_serve_after_start_on_a_chosen_port(session: aiohttp.ClientSession) -> None:
    probe = FakeInstance(videos=0)
    await probe.start()
    port = probe.port
    await probe.close()

    fake = FakeInstance(videos=0, port=port)
    await fake.start()
    task = asyncio.create_task(fake.serve())
    try:
        reply = await get(session, fake.url / API / "videos")
        assert fake.url.port == port
        assert reply.body == EMPTY_LIST
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not fake.started


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="unknown limiter class"):
        FakeInstance(limits={"feeds": (1, 1.0)})
    with pytest.raises(ValueError):
        FakeInstance(moderator="root")
    with pytest.raises(ValueError):
        FakeInstance(videos=-1)


# ---------------------------------------------------------------------------------------
# Against the shared sample file


@pytest.fixture(scope="module")
def samples() -> dict[str, dict[str, Any]]:
    return {sample["name"]: sample for sample in fixtures.samples()}


def key_paths(value: Any, prefix: str = "") -> list[str]:
    """Every key path of a JSON value, in order (list items: the first one only)."""
    if isinstance(value, dict):
        paths = []
        for key, item in value.items():
            paths.append(prefix + key)
            paths.extend(key_paths(item, prefix + key + "."))
        return paths
    if isinstance(value, list) and value:
        return key_paths(value[0], prefix + "[]")
    return []


def test_embedded_expectations_match_the_sample_file(samples: dict[str, dict[str, Any]]) -> None:
    expected_bodies = {
        "bad-video-id": BAD_VIDEO_ID,
        "count-over-max": COUNT_OVER_MAX,
        "video-not-found": VIDEO_NOT_FOUND,
        "me-no-token": ME_NO_TOKEN,
        "me-invalid-token": ME_INVALID_TOKEN,
        "me-no-bearer-scheme": ME_NO_BEARER,
        "register-disabled": REGISTER_DISABLED,
        "token-wrong-password": WRONG_PASSWORD,
        "token-ok": TOKEN_OK_REDACTED,
        "rate-limited-api": TOO_MANY,
        "list-videos-empty": EMPTY_LIST,
    }
    for name, body in expected_bodies.items():
        assert samples[name]["body"].encode() == body, name
    assert [tuple(h) for h in samples["rate-limited-api"]["headers"][:6]] == COMMON


async def test_static_bodies_equal_samples(
    session: aiohttp.ClientSession, samples: dict[str, dict[str, Any]]
) -> None:
    async with FakeInstance() as fake:
        config = await get(session, fake.url / API / "config")
        categories = await get(session, fake.url / API / "videos/categories")

    assert config.body == samples["body /api/v1/config"]["body"].encode()
    assert categories.body == samples["body /api/v1/videos/categories"]["body"].encode()


async def test_payload_shapes_follow_samples(
    session: aiohttp.ClientSession, samples: dict[str, dict[str, Any]]
) -> None:
    async with FakeInstance(videos=5, rate_limit=False) as fake:
        base = fake.url / API
        root = fake.issue_tokens("root").access_token
        bodies = {
            "body /api/v1/videos": await get(session, base / "videos"),
            "body /api/v1/videos/1": await get(session, base / "videos/1"),
            "body /api/v1/accounts": await get(session, base / "accounts"),
            "body /api/v1/accounts/root": await get(session, base / "accounts/root"),
            "body /api/v1/video-channels": await get(session, base / "video-channels"),
            "body /api/v1/video-playlists": await get(session, base / "video-playlists"),
            "body /api/v1/videos/1/comment-threads": await get(
                session, base / "videos/1/comment-threads"
            ),
            "body /api/v1/users/me (admin)": await get(session, base / "users/me", token=root),
        }

    for name, reply in bodies.items():
        assert reply.status == 200, name
        expected = key_paths(json.loads(samples[name]["body"]))
        assert key_paths(reply.json()) == expected, name
