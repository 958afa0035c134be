"""OAuth of FakeInstance over loopback: two-factor logins, refresh rotation, revocation,
expiry, client errors and the counters tests assert on.

Expected statuses, codes and messages are those of PeerTube's server
(``server/core/lib/auth/oauth.ts``, ``server/core/lib/auth/oauth-model.ts``,
``server/core/controllers/api/users/token.ts``, ``server/core/middlewares/auth.ts``) and of
the real PeerTube 6.3 responses in ``peertube-samples.json``. The server runs on a clock the
tests move by hand.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from yarl import URL

from peertube_async.testing import FakeInstance, totp_code

API = "api/v1"
DOCS = "https://docs.joinpeertube.org/api-rest-reference.html"
T0 = 1_800_000_015.0  # halfway through a 30-second step

# RFC 6238, appendix B: the seeds of the three algorithms and the 8-digit codes.
RFC_SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
RFC_SHA1_BASE32 = base64.b32encode(RFC_SEEDS["sha1"]).decode()

MISSING_TWO_FACTOR = (
    b'{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/'
    b'missing_two_factor","detail":"Missing two factor header","status":401,"docs":'
    b'"https://docs.joinpeertube.org/api-rest-reference.html#operation/getOAuthToken",'
    b'"code":"missing_two_factor","error":"Missing two factor header"}'
)
INVALID_TOKEN = (
    b'{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/'
    b'invalid_token","detail":"Token is invalid","status":401,"code":"invalid_token",'
    b'"error":"Token is invalid"}'
)


class FakeClock:
    """A server clock that only moves when told to."""

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

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.headers]


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
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with session.request(method, url, headers=sent, **kwargs) as response:
        body = await response.read()
        raw = [(k.decode(), v.decode()) for k, v in response.raw_headers]
        return Reply(response.status, raw, body)


def form(fake: FakeInstance, **fields: str) -> dict[str, str]:
    sent = {"client_id": fake.client_id, "client_secret": fake.client_secret}
    sent.update(fields)
    return sent


async def token_request(
    session: aiohttp.ClientSession,
    fake: FakeInstance,
    fields: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> Reply:
    return await call(
        session, "POST", fake.url / API / "users/token", data=dict(fields), headers=headers
    )


async def login(
    session: aiohttp.ClientSession, fake: FakeInstance, user: str, otp: str | None = None
) -> Reply:
    fields = form(fake, grant_type="password", username=user, password=fake.passwords[user])
    headers = {"x-peertube-otp": otp} if otp is not None else None
    return await token_request(session, fake, fields, headers)


async def refresh(session: aiohttp.ClientSession, fake: FakeInstance, refresh_token: str) -> Reply:
    fields = form(fake, grant_type="refresh_token", refresh_token=refresh_token)
    return await token_request(session, fake, fields)


async def me(session: aiohttp.ClientSession, fake: FakeInstance, token: str) -> Reply:
    return await call(session, "GET", fake.url / API / "users/me", token=token)


async def revoke(session: aiohttp.ClientSession, fake: FakeInstance, token: str | None) -> Reply:
    return await call(session, "POST", fake.url / API / "users/revoke-token", token=token)


def roomy(**kwargs: Any) -> FakeInstance:
    """An instance whose login window does not get in the way of many token requests."""
    kwargs.setdefault("videos", 0)
    return FakeInstance(limits={"login": (1000, 300.0)}, **kwargs)


# ---------------------------------------------------------------------------------------
# TOTP


@pytest.mark.parametrize(("timestamp", "sha1", "sha256", "sha512"), RFC_VECTORS)
def test_totp_code_matches_rfc6238_vectors(
    timestamp: int, sha1: str, sha256: str, sha512: str
) -> None:
    for algorithm, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        code = totp_code(RFC_SEEDS[algorithm], timestamp, digits=8, algorithm=algorithm)
        assert code == expected, algorithm


def test_totp_code_reads_base32_like_otpauth() -> None:
    # Six digits are the last six of the eight: the same truncated HMAC, modulo 10**6.
    assert totp_code(RFC_SHA1_BASE32, 59) == "287082"
    assert totp_code(RFC_SHA1_BASE32.lower(), 59) == "287082"
    assert totp_code(RFC_SHA1_BASE32 + "====", 1111111109) == "081804"
    with pytest.raises(ValueError, match="base32"):
        totp_code("NOT-BASE32!", 59)
    with pytest.raises(ValueError, match="algorithm"):
        totp_code(RFC_SHA1_BASE32, 59, algorithm="md5")


async def test_fake_totp_helper() -> None:
    clock = FakeClock(59.0)
    async with FakeInstance(videos=0, two_factor={"alice": RFC_SHA1_BASE32}, clock=clock) as fake:
        now = fake.totp("alice")
        at = fake.totp("alice", at=1111111109)
        generated = fake.enable_two_factor("root")
        root_code = fake.totp("root", at=T0)
        fake.disable_two_factor("root")
        with pytest.raises(KeyError):
            fake.totp("root")
        with pytest.raises(KeyError):
            fake.totp("nobody")
        with pytest.raises(KeyError):
            fake.enable_two_factor("nobody")

    assert (now, at) == ("287082", "081804")
    assert len(generated) == 32
    assert len(base64.b32decode(generated)) == 20
    assert root_code == totp_code(generated, T0)


def test_two_factor_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown user"):
        FakeInstance(two_factor={"nobody": RFC_SHA1_BASE32})
    with pytest.raises(ValueError, match="base32"):
        FakeInstance(two_factor={"alice": "0189"})
    with pytest.raises(ValueError, match="empty"):
        FakeInstance(two_factor={"alice": "="})


# ---------------------------------------------------------------------------------------
# Two-factor logins


async def test_two_factor_missing_code(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with FakeInstance(videos=0, two_factor={"alice": RFC_SHA1_BASE32}, clock=clock) as fake:
        missing = await login(session, fake, "alice")
        empty = await login(session, fake, "alice", otp="")
        stats = fake.stats

    assert missing.status == 401
    assert missing.body == MISSING_TWO_FACTOR
    assert missing.header("x-peertube-otp") == "required; app"
    assert missing.header("Content-Type") == "application/problem+json; charset=utf-8"
    # res.set() in handleToken runs after the limiter headers and before res.fail().
    names = missing.names
    assert names.index("X-RateLimit-Reset") < names.index("x-peertube-otp")
    assert names.index("x-peertube-otp") < names.index("Content-Type")
    assert empty.status == 401
    assert empty.json()["code"] == "missing_two_factor"
    assert stats.logins == 0


async def test_two_factor_wrong_code(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with roomy(two_factor={"alice": RFC_SHA1_BASE32}, clock=clock) as fake:
        current = fake.totp("alice")
        wrong = str((int(current) + 1) % 1_000_000).zfill(6)
        replies = {
            "wrong": await login(session, fake, "alice", otp=wrong),
            "two steps early": await login(
                session, fake, "alice", otp=fake.totp("alice", at=T0 - 60)
            ),
            "two steps late": await login(
                session, fake, "alice", otp=fake.totp("alice", at=T0 + 60)
            ),
            "too short": await login(session, fake, "alice", otp=current[:5]),
            "too long": await login(session, fake, "alice", otp=current + "0"),
        }
        stats = fake.stats

    for label, reply in replies.items():
        assert reply.status == 400, label
        problem = reply.json()
        assert problem["type"] == f"{DOCS}#section/Errors/invalid_two_factor"
        assert (problem["code"], problem["detail"], problem["error"]) == (
            "invalid_two_factor",
            "Invalid two factor header",
            "Invalid two factor header",
        )
        assert reply.header("x-peertube-otp") is None
    assert stats.logins == 0
    assert stats.token_requests == stats.grant_types["password"] == 5


async def test_two_factor_right_code_and_neighbour_steps(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with roomy(two_factor={"alice": RFC_SHA1_BASE32}, clock=clock) as fake:
        current = await login(session, fake, "alice", otp=fake.totp("alice"))
        previous = await login(session, fake, "alice", otp=fake.totp("alice", at=T0 - 30))
        following = await login(session, fake, "alice", otp=fake.totp("alice", at=T0 + 30))
        # The same code stays good while its step, or a neighbour, is current.
        code = fake.totp("alice")
        clock.now += 30
        replayed_later = await login(session, fake, "alice", otp=code)
        profile = await me(session, fake, current.json()["access_token"])
        root = await login(session, fake, "root")
        root_profile = await me(session, fake, root.json()["access_token"])
        stats = fake.stats

    for reply in (current, previous, following, replayed_later):
        assert reply.status == 200
        assert list(reply.json()) == [
            "token_type",
            "access_token",
            "refresh_token",
            "expires_in",
            "refresh_token_expires_in",
        ]
    assert profile.json()["twoFactorEnabled"] is True
    assert root.status == 200
    assert root_profile.json()["twoFactorEnabled"] is False
    assert stats.logins == 5


async def test_password_is_checked_before_the_code(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with FakeInstance(videos=0, two_factor={"alice": RFC_SHA1_BASE32}, clock=clock) as fake:
        fields = form(fake, grant_type="password", username="alice", password="wrong")
        bad_password = await token_request(session, fake, fields)
        with_code = await token_request(
            session, fake, fields, {"x-peertube-otp": fake.totp("alice")}
        )

    for reply in (bad_password, with_code):
        assert reply.status == 400
        assert reply.json()["code"] == "invalid_grant"
        assert reply.json()["detail"] == "Invalid grant: user credentials are invalid"


async def test_two_factor_enabled_at_runtime_and_refresh_needs_no_code(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(T0)
    async with roomy(clock=clock) as fake:
        before = await login(session, fake, "alice")
        fake.enable_two_factor("alice")
        refused = await login(session, fake, "alice")
        accepted = await login(session, fake, "alice", otp=fake.totp("alice"))
        # The refresh grant never asks for a code.
        renewed = await refresh(session, fake, before.json()["refresh_token"])
        fake.disable_two_factor("alice")
        again = await login(session, fake, "alice")

    assert before.status == accepted.status == renewed.status == again.status == 200
    assert refused.status == 401
    assert refused.json()["code"] == "missing_two_factor"


# ---------------------------------------------------------------------------------------
# Refresh grant


async def test_refresh_rotates_the_pair(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with roomy(clock=clock) as fake:
        first = (await login(session, fake, "alice")).json()
        clock.now += 100.25
        rotated = await refresh(session, fake, first["refresh_token"])
        second = rotated.json()
        old_access = await me(session, fake, first["access_token"])
        old_refresh = await refresh(session, fake, first["refresh_token"])
        new_access = await me(session, fake, second["access_token"])
        third = await refresh(session, fake, second["refresh_token"])
        stats = fake.stats

    assert rotated.status == 200
    assert rotated.header("Cache-Control") == "no-store"
    assert rotated.header("Pragma") == "no-cache"
    assert {second["access_token"], second["refresh_token"]}.isdisjoint(
        {first["access_token"], first["refresh_token"]}
    )
    assert len(second["access_token"]) == len(second["refresh_token"]) == 40
    # A full lifetime again from the refresh, not what was left of the first pair.
    assert (second["expires_in"], second["refresh_token_expires_in"]) == (86399, 1209599)
    assert old_access.status == 401
    assert old_access.body == INVALID_TOKEN
    assert old_refresh.status == 400
    assert old_refresh.json()["detail"] == "Invalid grant: refresh token is invalid"
    assert new_access.json()["username"] == "alice"
    assert third.status == 200
    assert (stats.logins, stats.refreshes) == (1, 2)
    assert stats.grant_types == {"password": 1, "refresh_token": 3}


async def test_refresh_with_expired_unknown_or_missing_token(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(T0)
    async with roomy(clock=clock, refresh_token_lifetime=600) as fake:
        pair = (await login(session, fake, "alice")).json()
        clock.now += 600  # expiresAt < now is false at the very millisecond
        last_moment = await refresh(session, fake, pair["refresh_token"])
        late_pair = last_moment.json()
        clock.now += 600.01
        expired = await refresh(session, fake, late_pair["refresh_token"])
        expired_again = await refresh(session, fake, late_pair["refresh_token"])
        unknown = await refresh(session, fake, "f" * 40)
        missing = await token_request(session, fake, form(fake, grant_type="refresh_token"))
        stats = fake.stats

    assert last_moment.status == 200
    for reply in (expired, expired_again):
        assert reply.status == 400
        problem = reply.json()
        assert problem["code"] == "invalid_grant"
        assert problem["type"] == f"{DOCS}#section/Errors/invalid_grant"
        assert problem["detail"] == "Invalid grant: refresh token has expired"
        assert problem["docs"] == f"{DOCS}#operation/getOAuthToken"
    assert unknown.status == 400
    assert unknown.json()["detail"] == "Invalid grant: refresh token is invalid"
    assert missing.status == 400
    assert missing.json()["code"] == "invalid_request"
    assert missing.json()["detail"] == "Missing parameter: `refresh_token`"
    assert stats.refreshes == 1


# ---------------------------------------------------------------------------------------
# Revocation


async def test_revoke_token(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with roomy(clock=clock) as fake:
        pair = (await login(session, fake, "alice")).json()
        other = (await login(session, fake, "alice")).json()
        revoked = await revoke(session, fake, pair["access_token"])
        access_after = await me(session, fake, pair["access_token"])
        refresh_after = await refresh(session, fake, pair["refresh_token"])
        twice = await revoke(session, fake, pair["access_token"])
        anonymous = await revoke(session, fake, None)
        other_session = await me(session, fake, other["access_token"])
        stats = fake.stats

    assert revoked.status == 200
    assert revoked.body == b'{"success":true}'
    assert revoked.header("Content-Type") == "application/json; charset=utf-8"
    # Only the api limiter counts this route.
    assert revoked.header("X-RateLimit-Limit") == "50"
    assert access_after.status == 401
    assert access_after.body == INVALID_TOKEN
    assert refresh_after.status == 400
    assert refresh_after.json()["code"] == "invalid_grant"
    assert refresh_after.json()["detail"] == "Invalid grant: refresh token is invalid"
    assert twice.status == 401
    assert twice.json()["code"] == "invalid_token"
    assert twice.json()["docs"] == f"{DOCS}#operation/revokeOAuthToken"
    assert anonymous.status == 401
    assert anonymous.json()["code"] == "unauthorized_request"
    assert other_session.status == 200
    assert stats.revocations == 1
    assert stats.limiter_hits == {"api": 8, "login": 3}
    assert stats.routes["POST /api/v1/users/revoke-token"] == 3


async def test_revoke_tokens_helper(session: aiohttp.ClientSession) -> None:
    async with roomy() as fake:
        by_access = fake.issue_tokens("alice")
        by_refresh = fake.issue_tokens("alice")
        assert fake.revoke_tokens(by_access.access_token) is True
        assert fake.revoke_tokens(by_refresh.refresh_token) is True
        assert fake.revoke_tokens("unknown") is False
        gone = await me(session, fake, by_access.access_token)
        also_gone = await refresh(session, fake, by_refresh.refresh_token)

    assert gone.status == 401
    assert also_gone.json()["detail"] == "Invalid grant: refresh token is invalid"


# ---------------------------------------------------------------------------------------
# Expiry


async def test_access_token_expiry_on_the_clock(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with roomy(clock=clock) as fake:
        pair = (await login(session, fake, "alice")).json()
        clock.now = T0 + 86400  # expiresAt == now: still valid
        last_moment = await me(session, fake, pair["access_token"])
        clock.now = T0 + 86400.01
        expired = await me(session, fake, pair["access_token"])
        renewed = await refresh(session, fake, pair["refresh_token"])

    assert (pair["expires_in"], pair["refresh_token_expires_in"]) == (86399, 1209599)
    assert last_moment.status == 200
    assert expired.status == 401
    assert expired.body == INVALID_TOKEN
    assert renewed.status == 200


@pytest.mark.parametrize(
    ("access", "refresh_lifetime", "expected"),
    [(86400, 1209600, (86399, 1209599)), (60, 120, (59, 119)), (2.5, 10.0, (2, 9))],
)
async def test_expires_in_is_floored_after_the_token_is_saved(
    session: aiohttp.ClientSession,
    access: float,
    refresh_lifetime: float,
    expected: tuple[int, int],
) -> None:
    clock = FakeClock(T0 + 0.0004)
    async with roomy(
        clock=clock, access_token_lifetime=access, refresh_token_lifetime=refresh_lifetime
    ) as fake:
        pair = (await login(session, fake, "alice")).json()

    assert (pair["expires_in"], pair["refresh_token_expires_in"]) == expected


async def test_expired_token_is_refused_by_the_limit_handler_too(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(T0)
    async with FakeInstance(
        videos=0, limits={"api": (1, 60.0)}, access_token_lifetime=10, clock=clock
    ) as fake:
        root = fake.issue_tokens("root")
        await call(session, "GET", fake.url / API / "config")
        clock.now += 11  # the token is dead, the api window still full
        refused = await call(session, "GET", fake.url / API / "config", token=root.access_token)

    assert refused.status == 401
    assert refused.json()["code"] == "invalid_token"


# ---------------------------------------------------------------------------------------
# Client credentials and other refusals


@pytest.mark.parametrize(
    ("fields", "code", "detail"),
    [
        ({"client_id": ""}, "invalid_client", "Invalid client: cannot retrieve client credentials"),
        (
            {"client_secret": ""},
            "invalid_client",
            "Invalid client: cannot retrieve client credentials",
        ),
        ({"client_id": "0" * 32}, "invalid_client", "Invalid client: client is invalid"),
        ({"client_secret": "0" * 32}, "invalid_client", "Invalid client: client is invalid"),
        ({"grant_type": ""}, "invalid_request", "Missing parameter: `grant_type`"),
        (
            {"grant_type": "authorization_code"},
            "unsupported_grant_type",
            "Unsupported grant type: `grant_type` is invalid",
        ),
        ({"password": ""}, "invalid_request", "Missing parameter: `password`"),
    ],
)
async def test_client_and_request_errors(
    session: aiohttp.ClientSession, fields: dict[str, str], code: str, detail: str
) -> None:
    async with FakeInstance(videos=0) as fake:
        sent = form(fake, grant_type="password", username="alice", password="alice-password")
        sent.update(fields)
        reply = await token_request(session, fake, sent)
        stats = fake.stats

    assert reply.status == 400
    problem = reply.json()
    assert problem["type"] == f"{DOCS}#section/Errors/{code}"
    assert (problem["code"], problem["detail"], problem["error"]) == (code, detail, detail)
    assert problem["docs"] == f"{DOCS}#operation/getOAuthToken"
    assert "title" not in problem
    assert stats.logins == 0
    assert stats.token_requests == 1
    assert stats.grant_types == {sent["grant_type"]: 1}


async def test_client_credentials_are_checked_before_the_refresh_token(
    session: aiohttp.ClientSession,
) -> None:
    async with roomy() as fake:
        pair = fake.issue_tokens("alice")
        fields = form(fake, grant_type="refresh_token", refresh_token=pair.refresh_token)
        fields["client_secret"] = "wrong"
        refused = await token_request(session, fake, fields)
        still_good = await refresh(session, fake, pair.refresh_token)

    assert refused.json()["code"] == "invalid_client"
    assert still_good.status == 200


# ---------------------------------------------------------------------------------------
# Limiters, roles and counters


async def test_token_endpoint_counts_in_api_and_login(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with FakeInstance(
        videos=0, limits={"api": (50, 10.0), "login": (2, 300.0)}, clock=clock
    ) as fake:
        first = await login(session, fake, "alice")
        wrong = await token_request(
            session, fake, form(fake, grant_type="password", username="alice", password="no")
        )
        limited = await login(session, fake, "alice")
        api_call = await call(session, "GET", fake.url / API / "config")
        stats = fake.stats

    assert (first.header("X-RateLimit-Limit"), first.header("X-RateLimit-Remaining")) == ("2", "1")
    assert wrong.status == 400
    assert limited.status == 429
    assert limited.body == b"Too many requests, please try again later."
    assert api_call.header("X-RateLimit-Remaining") == "46"
    assert stats.limiter_hits == {"api": 4, "login": 3}
    assert stats.limiter_rejections == {"login": 1}
    # The refused request never reached the OAuth handler but is a token request all the same.
    assert stats.token_requests == 3
    assert stats.grant_types == {"password": 2}
    assert stats.logins == 1


async def test_privileged_bypass_survives_refresh(session: aiohttp.ClientSession) -> None:
    clock = FakeClock(T0)
    async with FakeInstance(
        videos=0, moderator="mod", limits={"api": (6, 60.0), "login": (100, 300.0)}, clock=clock
    ) as fake:
        pairs = {
            name: (await login(session, fake, name)).json() for name in ("root", "mod", "alice")
        }
        renewed = {
            name: (await refresh(session, fake, pair["refresh_token"])).json()
            for name, pair in pairs.items()
        }
        # Six token requests spent the api window of six: the next calls are over it.
        url = fake.url / API / "users/me"
        replies = {
            name: await call(session, "GET", url, token=pair["access_token"])
            for name, pair in renewed.items()
        }
        stats = fake.stats

    for name in ("root", "mod"):
        assert replies[name].status == 200, name
        assert replies[name].header("X-RateLimit-Remaining") == "0"
        assert replies[name].header("Retry-After") is not None
    assert replies["root"].json()["role"] == {"id": 0, "label": "Administrator"}
    assert replies["mod"].json()["role"] == {"id": 1, "label": "Moderator"}
    assert replies["alice"].status == 429
    assert stats.bypassed == 2


async def test_users_me_roles_over_http(session: aiohttp.ClientSession) -> None:
    async with roomy(moderator="mod") as fake:
        roles = {}
        for name in ("root", "mod", "alice"):
            token = (await login(session, fake, name)).json()["access_token"]
            roles[name] = (await me(session, fake, token)).json()["role"]

    assert roles == {
        "root": {"id": 0, "label": "Administrator"},
        "mod": {"id": 1, "label": "Moderator"},
        "alice": {"id": 2, "label": "User"},
    }


async def test_authorization_header_counters(session: aiohttp.ClientSession) -> None:
    async with roomy(videos=2) as fake:
        pair = (await login(session, fake, "alice")).json()
        await call(session, "GET", fake.url / API / "videos")
        await call(session, "GET", fake.url / API / "videos", token=pair["access_token"])
        await me(session, fake, pair["access_token"])
        await call(session, "GET", fake.url / API / "config", headers={"Authorization": "Basic x"})
        await revoke(session, fake, pair["access_token"])
        stats = fake.stats

    assert stats.requests == 6
    assert stats.authorized_requests == 4
    assert stats.authorized_routes == {
        "GET /api/v1/videos": 1,
        "GET /api/v1/users/me": 1,
        "GET /api/v1/config": 1,
        "POST /api/v1/users/revoke-token": 1,
    }
    assert "POST /api/v1/users/token" not in stats.authorized_routes
    assert (stats.token_requests, stats.logins, stats.revocations) == (1, 1, 1)


async def test_reset_stats_clears_the_oauth_counters(session: aiohttp.ClientSession) -> None:
    async with roomy() as fake:
        pair = (await login(session, fake, "alice")).json()
        await refresh(session, fake, pair["refresh_token"])
        fake.reset_stats()
        stats = fake.stats

    assert (stats.token_requests, stats.logins, stats.refreshes, stats.revocations) == (0, 0, 0, 0)
    assert stats.grant_types == stats.authorized_routes == {}
    assert stats.authorized_requests == 0
