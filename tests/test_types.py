"""Types that tell the truth about what real PeerTube servers send.

* Every 2xx JSON answer of the corpus (a PeerTube 6.3.0 server, every operation of the
  spec) decodes with the strict converter into its operation's type, and no value the
  server sent is lost; every error answer of the corpus raises the right exception.
* The three calls that failed against a real 6.3 server work against FakeInstance.
* The top level of an answer is checked; below it, a field that does not fit is None.
* Methods and arguments newer than the instance raise before anything is sent.
"""

from __future__ import annotations

import json
import logging
import textwrap
import typing
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from mypy import api as mypy_api

from peertube_async import (
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PeerTube,
    RateLimited,
    ResponseDecodeError,
    ServerError,
    Unauthorized,
    UnsupportedByServer,
    VideoPrivacy,
    VideoState,
)
from peertube_async._convert import WIRE, _warned, make_converter
from peertube_async._generated import resources as generated
from peertube_async._pagination import Page
from peertube_async.models import Job, UserRole, VideoDetails
from peertube_async.testing import FakeInstance
from tests import fixtures

ROOT = Path(__file__).resolve().parents[1]
STRICT = make_converter(strict=True)
ENDPOINTS = {
    (ep.method, ep.path): ep for ep in vars(generated).values() if type(ep).__name__ == "Endpoint"
}


def endpoint_of(operation: str) -> Any:
    method, route = operation.split(" ", 1)
    found = ENDPOINTS.get((method, route))
    if found is None:  # sent with another method than the spec's (overrides file)
        found = next(ep for (_, path), ep in ENDPOINTS.items() if path == route)
    return found


def is_json(sample: dict[str, Any]) -> bool:
    headers = {k.lower(): v for k, v in sample["headers"]}
    return bool(sample.get("body")) and "json" in headers.get("content-type", "")


def typed_answers() -> dict[str, list[dict[str, Any]]]:
    """2xx JSON answers of the corpus, by operation, where the method decodes a model."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in fixtures.corpus()["samples"]:
        if not 200 <= sample["status"] < 300 or not is_json(sample):
            continue
        ep = endpoint_of(sample["operation"])
        if ep.response == "json" and (ep.model is not None or ep.page_item is not None):
            found[sample["operation"]].append(sample)
    return dict(found)


TYPED = typed_answers()


def type_of(operation: str) -> Any:
    ep = endpoint_of(operation)
    if ep.page_item is None:
        return ep.model_type
    return Page[ep.item_type]  # type: ignore[name-defined]  # a type known at run time


def lost_values(raw: Any, decoded: Any, path: str = "$") -> Iterator[str]:
    """Where the server sent a value and the decoded object holds None."""
    if raw is None:
        return
    if decoded is None:
        yield path
        return
    if attrs.has(type(decoded)):
        assert isinstance(raw, dict), path
        for field in attrs.fields(type(decoded)):
            wire = field.metadata.get(WIRE, field.name)
            if wire in raw:
                yield from lost_values(raw[wire], getattr(decoded, field.name), f"{path}.{wire}")
    elif isinstance(decoded, (list, tuple)):
        assert isinstance(raw, list) and len(raw) == len(decoded), path
        for i, (item, back) in enumerate(zip(raw, decoded, strict=True)):
            yield from lost_values(item, back, f"{path}[{i}]")
    elif isinstance(decoded, dict):
        assert isinstance(raw, dict) and set(raw) == set(decoded), path
        for key, value in raw.items():
            yield from lost_values(value, decoded[key], f"{path}.{key}")


@pytest.mark.parametrize("operation", sorted(TYPED))
def test_corpus_answer_decodes_strictly_and_keeps_every_value(operation: str) -> None:
    for sample in TYPED[operation]:
        raw = json.loads(sample["body"])
        decoded = STRICT.structure(raw, type_of(operation))
        assert list(lost_values(raw, decoded)) == [], sample["path"]


def test_the_corpus_covers_every_typed_operation_it_answered() -> None:
    # 208 operations answered with a 2xx; 117 of them with a JSON body, of which three
    # are files or feeds (JSON Feed, HLS segment hashes) that methods return as they are.
    assert len(TYPED) == 114
    assert sum(len(samples) for samples in TYPED.values()) == 170
    answered = {s["operation"] for s in fixtures.corpus()["samples"] if 200 <= s["status"] < 300}
    assert len(answered) == 208


# -- error answers ---------------------------------------------------------------------

EXPECTED_ERROR = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}
ERRORS = [s for s in fixtures.corpus()["samples"] if s["status"] >= 400]


class Replay:
    """A loopback server that answers whatever corpus sample is current."""

    def __init__(self) -> None:
        self.sample: dict[str, Any] = {}
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self.server = TestServer(app, host="127.0.0.1")

    async def _answer(self, request: web.Request) -> web.Response:
        await request.read()
        kept = {"content-type", "retry-after", "date"}
        headers = {
            k: v
            for k, v in self.sample["headers"]
            if k.lower() in kept or k.lower().startswith("x-ratelimit-")
        }
        return web.Response(
            status=self.sample["status"],
            body=(self.sample.get("body") or "").encode(),
            headers=headers,
        )


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    server = Replay()
    await server.server.start_server()
    try:
        yield server
    finally:
        await server.server.close()


async def test_every_error_answer_of_the_corpus_raises_the_right_exception(
    replay: Replay,
) -> None:
    assert len(ERRORS) == 232
    seen: dict[type, int] = defaultdict(int)
    async with PeerTube(
        str(replay.server.make_url("/")),
        rate_limiting=False,
        retries=0,
        rate_limit_retries=0,
        check_server_version=False,
    ) as pt:
        for sample in ERRORS:
            replay.sample = sample
            status = sample["status"]
            expected = EXPECTED_ERROR.get(status, ServerError if status >= 500 else APIError)
            with pytest.raises(expected) as caught:
                await pt.request(sample["method"], sample["path"].split(" ")[0])
            seen[type(caught.value)] += 1
            if isinstance(caught.value, APIError):
                assert caught.value.status == status
                body = sample.get("body") or ""
                if body.startswith("{"):
                    data = json.loads(body)
                    upload_error = data.get("error")
                    code = data.get("code")
                    if isinstance(upload_error, dict):  # the upload layer's own shape
                        code = upload_error.get("code")
                    if isinstance(code, str):
                        assert caught.value.code is not None
                        assert caught.value.code.value == code
                    detail = data.get("detail")
                    if isinstance(detail, str) and "<" not in detail:
                        assert detail[:40] in str(caught.value)
            else:
                assert isinstance(caught.value, RateLimited)
                assert caught.value.bucket in ("api", "signup", "login", "ask_send_email")
    assert seen[BadRequest] > 100 and seen[NotFound] > 50 and seen[RateLimited] >= 1


# -- the three calls that failed against a real 6.3 server -----------------------------


async def test_jobs_with_string_ids_decode() -> None:
    async with (
        FakeInstance(videos=0) as fake,
        PeerTube(fake.url, rate_limiting=False) as pt,
    ):
        await pt.login("root", fake.passwords["root"])
        completed = await pt.server.jobs.list("completed", count=5)
        failed = await pt.server.jobs.list("failed")
        delayed = await pt.server.jobs.list("delayed")
    assert completed.total == 12 and len(completed.data) == 5
    assert all(isinstance(job, Job) and job.id.isdigit() for job in completed.data)
    assert failed.data[0].error is not None and "TypeError" in failed.data[0].error
    assert delayed.data[0].id.startswith("repeat:")
    assert delayed.data[0].finished_on is None


async def test_two_factor_request_gives_the_secret_and_enables_2fa() -> None:
    async with FakeInstance(videos=0) as fake:
        password = fake.passwords["alice"]
        async with PeerTube(fake.url, rate_limiting=False) as pt:
            await pt.login("alice", password)
            me = await pt.me.get()
            answer = await pt.users.two_factor.request(me.id, current_password=password)
            assert answer is not None
            request = answer.otp_request
            assert request.secret and request.request_token
            assert request.uri.startswith("otpauth://totp/")
            code = fake_code(request.secret)
            await pt.users.two_factor.confirm(
                me.id, request_token=request.request_token, otp_token=code
            )
            with pytest.raises(Forbidden) as wrong:
                await pt.users.two_factor.request(me.id, current_password="wrong")
            assert wrong.value.code is not None
            assert wrong.value.code.value == "current_password_is_invalid"
        assert fake.totp("alice")  # two-factor authentication is now on for alice


def fake_code(secret: str) -> str:
    import time

    from peertube_async.testing import totp_code

    return totp_code(secret, time.time())


async def test_register_answers_nothing_and_the_user_exists() -> None:
    async with (
        FakeInstance(videos=0, signup_allowed=True) as fake,
        PeerTube(fake.url) as pt,
    ):
        # Typed as returning nothing: PeerTube answers 204 (the spec says 200 and a body).
        hints = typing.get_type_hints(type(pt.registrations).register)
        assert hints["return"] is type(None)
        await pt.registrations.register(
            username="newbie", password="newbie-password", email="newbie@example.org"
        )
        await pt.login("newbie", "newbie-password")
        me = await pt.me.get()
    assert me.username == "newbie"


# -- shapes -----------------------------------------------------------------------------


class Scripted:
    """A loopback server answering every request with one set answer."""

    def __init__(self) -> None:
        self.status = 200
        self.content_type: str | None = "application/json"
        self.body = b"{}"
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self.server = TestServer(app, host="127.0.0.1")

    async def _answer(self, request: web.Request) -> web.Response:
        await request.read()
        if self.content_type is None:
            return web.Response(status=self.status, body=self.body)
        return web.Response(
            status=self.status, body=self.body, headers={"Content-Type": self.content_type}
        )


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    server = Scripted()
    await server.server.start_server()
    try:
        yield server
    finally:
        await server.server.close()


def client_of(server: Scripted, **options: Any) -> PeerTube:
    return PeerTube(
        str(server.server.make_url("/")),
        rate_limiting=False,
        retries=0,
        check_server_version=False,
        **options,
    )


VIDEO = json.loads(
    next(s for s in fixtures.samples() if s["name"] == "body /api/v1/videos/1")["body"]
)
LISTED = json.loads(
    next(s for s in fixtures.samples() if s["name"] == "body /api/v1/videos")["body"]
)["data"][0]


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("text/html; charset=utf-8", b"<html>maintenance</html>", "expected JSON, got text/html"),
        ("application/json", b"[1, 2]", "expected an object for VideoDetails, got list"),
        ("application/json", b'"a string"', "expected an object for VideoDetails, got str"),
        ("application/json", b"", "the answer is empty where JSON was expected"),
        ("application/json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
async def test_a_get_whose_top_level_does_not_fit_raises(
    scripted: Scripted, content_type: str, body: bytes, message: str
) -> None:
    scripted.content_type, scripted.body = content_type, body
    async with client_of(scripted) as pt:
        with pytest.raises(ResponseDecodeError) as caught:
            await pt.videos.get(1)
    assert message in str(caught.value)
    assert caught.value.status == 200
    assert "(200; GET /api/v1/videos/1)" in str(caught.value)


async def test_a_write_answered_with_204_returns_none(scripted: Scripted) -> None:
    scripted.status, scripted.content_type, scripted.body = 204, None, b""
    async with client_of(scripted) as pt:
        created = await pt.video_channels.create(name="c", display_name="C")
    assert created is None


async def test_a_list_answered_as_a_bare_array_is_one_page(scripted: Scripted) -> None:
    scripted.body = json.dumps([LISTED, LISTED]).encode()
    async with client_of(scripted) as pt:
        page = await pt.videos.list()
    assert page.total is None and len(page.data) == 2


async def test_a_field_that_does_not_fit_is_none_and_the_rest_decodes(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    _warned.clear()
    scripted.body = json.dumps({**VIDEO, "duration": "about a minute", "views": None}).encode()
    async with client_of(scripted) as pt:
        with caplog.at_level(logging.WARNING, logger="peertube_async.decode"):
            video = await pt.videos.get(1)
            again = await pt.videos.get(1)
    assert video.duration is None and again.duration is None
    assert video.views is None  # sent as null although always sent: None too
    assert video.name == VIDEO["name"] and video.uuid == VIDEO["uuid"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages  # once per model and field, not per answer
    assert "VideoDetails: duration: expected int, got str 'about a minute'" in messages[0]


async def test_strict_decoding_names_the_path(scripted: Scripted) -> None:
    page = {"total": 3, "data": [LISTED, LISTED, {**LISTED, "duration": "long"}]}
    scripted.body = json.dumps(page).encode()
    async with client_of(scripted, strict_decoding=True) as pt:
        with pytest.raises(ResponseDecodeError) as caught:
            await pt.videos.list()
    assert "data[2].duration: expected int, got str 'long'" in str(caught.value)


# -- named constants ---------------------------------------------------------------------


async def test_constants_are_named_enums_in_models_and_arguments() -> None:
    assert (VideoState.PUBLISHED.value, VideoPrivacy.PUBLIC.value, UserRole.USER.value) == (1, 1, 2)
    assert int(VideoState.PUBLISHED) == 1 and VideoState(1) is VideoState.PUBLISHED
    video = STRICT.structure(VIDEO, VideoDetails)
    assert video.state is not None and video.state.id is VideoState.PUBLISHED
    assert video.privacy.id is VideoPrivacy.PUBLIC
    assert VideoState(99).known is False and VideoState(99) == 99


def test_user_code_reading_models_passes_mypy_strict(tmp_path: Path) -> None:
    snippet = tmp_path / "bot.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from peertube_async import PeerTube, VideoPrivacy

            async def names(pt: PeerTube) -> list[str]:
                page = await pt.videos.list(skip_count=True, sort="-publishedAt")
                video = page.data[0]
                public = video.privacy.id == VideoPrivacy.PUBLIC
                return [video.name.upper(), video.channel.name, str(public)]
            """
        )
    )
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(snippet),
        ]
    )
    assert status == 0, stdout + stderr


# -- files ------------------------------------------------------------------------------


async def test_a_download_operation_returns_the_bytes_or_writes_the_file(
    tmp_path: Path,
) -> None:
    content = bytes(range(256)) * 400
    async with FakeInstance(videos=3) as fake, PeerTube(fake.url) as pt:
        video = fake.videos[0]
        stored = fake.add_video_file(video.id, data=content, resolution=720)
        data = await pt.videos.generate_download(video.uuid, video_file_ids=[stored.id])
        path = await pt.videos.generate_download(
            video.uuid, video_file_ids=[stored.id], dest=tmp_path / "copy.mp4"
        )
    assert data == content
    assert path == tmp_path / "copy.mp4" and path.read_bytes() == content


# -- versions ----------------------------------------------------------------------------


async def test_a_method_newer_than_the_instance_raises_before_sending() -> None:
    async with FakeInstance(videos=0) as fake, PeerTube(fake.url) as pt:
        await pt.login("root", fake.passwords["root"])
        fake.reset_stats()
        for _ in range(2):
            with pytest.raises(UnsupportedByServer) as caught:
                await pt.oauth.list_sessions(1)
        with pytest.raises(UnsupportedByServer) as argument:
            await pt.videos.list(state_one_of=[VideoState.PUBLISHED])
        assert await pt.server_version() == "6.3.0"
        routes = dict(fake.stats.routes)
    assert (
        str(caught.value) == "oauth.list_sessions needs PeerTube >= 8.0; this instance runs 6.3.0"
    )
    assert (caught.value.required, caught.value.server_version) == ("8.0", "6.3.0")
    assert "stateOneOf" in str(argument.value) and ">= 8.2" in str(argument.value)
    # The version was asked once (one call of the budget); nothing else was sent.
    assert routes == {"GET /api/v1/config": 1}


async def test_the_version_check_can_be_switched_off() -> None:
    async with (
        FakeInstance(videos=0) as fake,
        PeerTube(fake.url, check_server_version=False) as pt,
    ):
        await pt.login("root", fake.passwords["root"])
        with pytest.raises(BadRequest) as caught:
            await pt.oauth.list_sessions(1)
    # What PeerTube 6.3 answers for a route it lacks: 400 with an empty body.
    assert caught.value.status == 400 and caught.value.body_excerpt == ""


def test_operations_6_3_lacks_are_marked_newer() -> None:
    missing = {
        s["operation"]
        for s in fixtures.corpus()["samples"]
        if s["status"] == 400 and not (s.get("body") or "").strip()
    }
    assert len(missing) == 47
    for operation in sorted(missing):
        since = endpoint_of(operation).since
        assert since is not None and tuple(map(int, since.split("."))) > (6, 3), operation
