"""Error classification over the real samples of a PeerTube 6.3 server, and odd bodies."""

import json
import pickle
from functools import cache
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from peertube_async._convert import make_converter
from peertube_async._errors import (
    APIError,
    BadRequest,
    Conflict,
    ConnectError,
    ErrorCode,
    Forbidden,
    InvalidParam,
    NotFound,
    PayloadTooLarge,
    PeerTubeError,
    Problem,
    RateLimited,
    RequestTimeout,
    ResponseDecodeError,
    ServerError,
    TransportError,
    Unauthorized,
    UnprocessableEntity,
    UnsupportedMediaType,
    error_from_response,
)
from peertube_async._ratelimit import RateLimitHeaders
from tests import fixtures

BASE = "http://127.0.0.1:9000"


@cache
def samples() -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in fixtures.samples()}


def sample_headers(name: str) -> CIMultiDict[str]:
    return CIMultiDict(samples()[name]["headers"])


def from_sample(name: str, **overrides: Any) -> APIError:
    sample = samples()[name]
    # The recorded path may carry a note after a space ("/api/v1/users/me (Bearer garbage)").
    path = sample["path"].split(" ")[0]
    kwargs: dict[str, Any] = {
        "status": sample["status"],
        "headers": sample_headers(name),
        "body": sample["body"].encode(),
        "method": sample["method"],
        "url": BASE + path,
    }
    kwargs.update(overrides)
    return error_from_response(**kwargs)


# name, class, code, str()
EXPECTED = [
    (
        "bad-video-id",
        BadRequest,
        None,
        "400 Bad Request: Incorrect request parameters: id "
        "(GET /api/v1/videos/9c9de5e8-0a1e-484a-b099-e80766180)",
    ),
    (
        "count-over-max",
        BadRequest,
        None,
        "400 Bad Request: Incorrect request parameters: count (GET /api/v1/videos?count=1000)",
    ),
    (
        "video-not-found",
        NotFound,
        None,
        "404 Not Found: Video not found (GET /api/v1/videos/00000000-0000-4000-8000-000000000000)",
    ),
    (
        "me-no-token",
        Unauthorized,
        ErrorCode.UNAUTHORIZED_REQUEST,
        "401 Unauthorized: Token is invalid [unauthorized_request] (GET /api/v1/users/me)",
    ),
    (
        "me-invalid-token",
        Unauthorized,
        ErrorCode.INVALID_TOKEN,
        "401 Unauthorized: Token is invalid [invalid_token] (GET /api/v1/users/me)",
    ),
    (
        "me-no-bearer-scheme",
        BadRequest,
        ErrorCode.INVALID_REQUEST,
        "400 Bad Request: Token is invalid [invalid_request] (GET /api/v1/users/me)",
    ),
    (
        "register-disabled",
        Forbidden,
        None,
        "403 Forbidden: User registration is not allowed (POST /api/v1/users/register)",
    ),
    (
        "token-wrong-password",
        BadRequest,
        ErrorCode.INVALID_GRANT,
        "400 Bad Request: Invalid grant: user credentials are invalid [invalid_grant] "
        "(POST /api/v1/users/token)",
    ),
    (
        "rate-limited-api",
        APIError,
        None,
        "429 Too Many Requests: Too many requests, please try again later. (GET /api/v1/videos)",
    ),
    (
        "token-rate-limited",
        APIError,
        None,
        "429 Too Many Requests: Too many requests, please try again later. "
        "(POST /api/v1/users/token)",
    ),
    (
        "resumable 6. PUT final chunk 3 AGAIN (replay after completion)",
        NotFound,
        "FileNotFound",
        "404 Not Found: Not found [FileNotFound] "
        "(PUT /api/v1/videos/upload-resumable?upload_id=<id>)",
    ),
]


def test_every_error_sample_is_covered() -> None:
    errors = {name for name, s in samples().items() if s["status"] >= 400}
    assert errors == {name for name, *_ in EXPECTED}


@pytest.mark.parametrize(("name", "cls", "code", "text"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_error_samples_classify(name: str, cls: type[APIError], code: Any, text: str) -> None:
    sample = samples()[name]
    error = from_sample(name)
    assert type(error) is cls
    assert error.status == sample["status"]
    assert error.method == sample["method"]
    assert error.code == code
    assert str(error) == text
    assert error.url.startswith(BASE + "/api/v1/")
    assert error.headers["X-RateLimit-Limit"] == sample_headers(name)["X-RateLimit-Limit"]
    assert len(error.body_excerpt) <= 201


@pytest.mark.parametrize("name", [e[0] for e in EXPECTED if e[0].startswith(("bad", "count"))])
def test_problem_json_samples_decode_fully(name: str) -> None:
    sample = samples()[name]
    error = from_sample(name)
    wire = json.loads(sample["body"])
    # The model covers every key the server sent.
    strict = make_converter(strict=True).structure(wire, Problem)
    assert error.problem == strict
    assert error.problem.type == "about:blank"
    assert error.problem.title == "Bad Request"
    assert error.problem.status == 400
    assert error.problem.instance == wire["instance"]
    assert error.problem.docs == wire["docs"]
    assert error.problem.error == wire["detail"]


def test_bad_request_exposes_invalid_params() -> None:
    error = from_sample("count-over-max")
    assert isinstance(error, BadRequest)
    assert error.invalid_params == {
        "count": InvalidParam(
            type="field",
            value="1000",
            msg="Should have a number count (max: 100)",
            path="count",
            location="query",
        )
    }
    assert from_sample("me-no-bearer-scheme").invalid_params == {}  # type: ignore[attr-defined]


def test_code_comes_from_type_when_missing() -> None:
    body = json.loads(samples()["me-invalid-token"]["body"])
    del body["code"]
    error = from_sample("me-invalid-token", body=json.dumps(body).encode())
    assert error.code is ErrorCode.INVALID_TOKEN
    assert error.problem.title is None  # not invented for a real problem document


def test_unknown_code_decodes_and_shows() -> None:
    body = {
        "type": "https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/x_new",
        "detail": "Something new",
        "status": 409,
        "code": "brand_new_code",
    }
    error = error_from_response(
        status=409,
        headers=CIMultiDict({"Content-Type": "application/problem+json; charset=utf-8"}),
        body=json.dumps(body).encode(),
        method="POST",
        url=BASE + "/api/v1/videos/1/thing",
    )
    assert type(error) is Conflict
    assert error.code == "brand_new_code"
    assert error.code is not None and error.code.known is False
    assert (
        str(error) == "409 Conflict: Something new [brand_new_code] (POST /api/v1/videos/1/thing)"
    )


def test_every_listed_code_is_known() -> None:
    codes = {
        "max_file_size_reached",
        "quota_reached",
        "does_not_respect_follow_constraints",
        "live_not_enabled",
        "live_not_allowing_replay",
        "live_conflicting_permanent_and_save_replay",
        "max_instance_lives_limit_reached",
        "max_user_lives_limit_reached",
        "incorrect_files_in_torrent",
        "comment_not_associated_to_video",
        "missing_two_factor",
        "invalid_two_factor",
        "account_waiting_for_approval",
        "account_approval_rejected",
        "runner_job_not_in_processing_state",
        "runner_job_not_in_pending_state",
        "unknown_runner_token",
        "video_requires_password",
        "incorrect_video_password",
        "video_already_being_transcoded",
        "video_already_being_transcribed",
        "video_already_has_captions",
        "max_user_video_quota_exceeded_for_user_export",
        "current_password_is_invalid",
        "invalid_grant",
        "invalid_client",
        "invalid_token",
        "invalid_request",
        "unsupported_grant_type",
        "unauthorized_client",
        "unauthorized_request",
    }
    assert {c.value for c in ErrorCode} == codes
    assert all(ErrorCode(c).known for c in codes)


def test_plain_json_with_problem_fields_is_a_problem() -> None:
    error = error_from_response(
        status=413,
        headers=CIMultiDict({"Content-Type": "application/json"}),
        body=b'{"status":413,"detail":"Quota reached","code":"quota_reached"}',
        method="POST",
        url=BASE + "/api/v1/videos/upload-resumable",
    )
    assert type(error) is PayloadTooLarge
    assert error.code is ErrorCode.QUOTA_REACHED
    # The phrase of 413 changed in Python 3.13 ("Content Too Large").
    phrase = HTTPStatus(413).phrase
    assert str(error) == (
        f"413 {phrase}: Quota reached [quota_reached] (POST /api/v1/videos/upload-resumable)"
    )


def test_validation_error_without_detail_names_the_fields() -> None:
    body = {"status": 400, "invalid-params": {"name": {"msg": "too short"}, "channelId": {}}}
    error = error_from_response(
        status=400,
        headers=CIMultiDict({"Content-Type": "application/problem+json"}),
        body=json.dumps(body).encode(),
        method="POST",
        url=BASE + "/api/v1/videos/upload-resumable",
    )
    assert str(error) == (
        "400 Bad Request: Incorrect request parameters: name, channelId "
        "(POST /api/v1/videos/upload-resumable)"
    )


def test_validation_error_appends_fields_missing_from_detail() -> None:
    body = {"detail": "Invalid video", "invalid-params": {"name": {"msg": "too short"}}}
    error = error_from_response(
        status=400,
        headers=CIMultiDict({"Content-Type": "application/problem+json"}),
        body=json.dumps(body).encode(),
        method="PUT",
        url=BASE + "/api/v1/videos/1",
    )
    assert str(error) == "400 Bad Request: Invalid video; invalid: name (PUT /api/v1/videos/1)"


# Bodies that are not problem documents

NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def classify(status: int, body: bytes, content_type: str | None = None) -> APIError:
    headers: CIMultiDict[str] = CIMultiDict()
    if content_type is not None:
        headers["Content-Type"] = content_type
    return error_from_response(
        status=status, headers=headers, body=body, method="GET", url=BASE + "/api/v1/videos"
    )


def test_proxy_html_page() -> None:
    error = classify(502, NGINX_502, "text/html")
    assert type(error) is ServerError
    assert error.problem.title == "Bad Gateway"
    assert error.problem.status == 502
    assert error.problem.detail == "502 Bad Gateway nginx"
    assert "<" not in error.body_excerpt
    assert str(error) == "502 Bad Gateway: 502 Bad Gateway nginx (GET /api/v1/videos)"


def test_long_html_page_is_excerpted() -> None:
    page = b"<html><body>" + b"<p>Cloudflare says no.</p>" * 500 + b"</body></html>"
    error = classify(503, page, "text/html; charset=UTF-8")
    assert type(error) is ServerError
    assert len(error.body_excerpt) <= 201
    assert error.problem.detail is not None
    assert error.problem.detail.startswith("Cloudflare says no.")


def test_empty_body() -> None:
    error = classify(503, b"")
    assert type(error) is ServerError
    assert error.problem == Problem(title="Service Unavailable", status=503)
    assert error.body_excerpt == ""
    assert str(error) == "503 Service Unavailable (GET /api/v1/videos)"


def test_truncated_problem_json() -> None:
    body = samples()["count-over-max"]["body"][:90].encode()
    error = classify(400, body, "application/problem+json; charset=utf-8")
    assert type(error) is BadRequest
    assert error.problem == Problem(title="Bad Request", status=400)
    assert error.body_excerpt.startswith('{"type":"about:blank"')
    assert str(error) == "400 Bad Request (GET /api/v1/videos)"


def test_binary_garbage() -> None:
    error = classify(500, bytes(range(256)) * 4, "application/octet-stream")
    assert type(error) is ServerError
    assert error.problem.detail is None
    assert error.body_excerpt == "<1024 bytes of binary data>"


def test_json_that_is_not_an_object() -> None:
    error = classify(500, b'["a", 1, null]', "application/json")
    assert error.problem == Problem(title="Internal Server Error", status=500)
    assert error.body_excerpt == '["a",1,null]'


def test_json_object_with_message_only() -> None:
    error = classify(502, b'{"message": "upstream\\nexploded"}', "application/json")
    assert error.problem.detail == "upstream exploded"


def test_text_body_under_a_json_content_type() -> None:
    error = classify(500, b"Internal error", "application/json")
    assert error.problem.detail == "Internal error"


def test_wrongly_typed_problem_fields_are_dropped() -> None:
    body = {
        "type": 5,
        "title": ["x"],
        "status": "400",
        "detail": "Kept",
        "code": {"nested": 1},
        "invalid-params": {"a": "plain message", "b": 3, "c": {"msg": 1, "location": "body"}},
    }
    error = classify(400, json.dumps(body).encode(), "application/problem+json")
    assert error.problem.detail == "Kept"
    assert error.problem.type == "about:blank"
    assert error.problem.title is None
    assert error.problem.status is None
    assert error.problem.code is None
    assert error.problem.invalid_params == {
        "a": InvalidParam(msg="plain message"),
        "b": InvalidParam(),
        "c": InvalidParam(location="body"),
    }


def test_deeply_nested_json_does_not_crash() -> None:
    error = classify(500, b"[" * 100_000 + b"]" * 100_000, "application/json")
    assert type(error) is ServerError


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, PayloadTooLarge),
        (415, UnsupportedMediaType),
        (422, UnprocessableEntity),
        (500, ServerError),
        (504, ServerError),
        (599, ServerError),
        (418, APIError),
        (429, APIError),
        (600, APIError),
        (999, APIError),
        (0, APIError),
    ],
)
def test_status_classes(status: int, cls: type[APIError]) -> None:
    assert type(classify(status, b"")) is cls


def test_unknown_status_has_no_reason() -> None:
    error = classify(599, b"")
    assert error.problem.title is None
    assert str(error) == "599 (GET /api/v1/videos)"


def test_plain_dict_headers_are_accepted() -> None:
    error = error_from_response(
        status=404,
        headers={"content-type": "application/json", "x-ratelimit-remaining": "3"},
        body=b'{"error": {"code": "FileNotFound", "message": "Not found"}}',
        method="PUT",
        url="/api/v1/videos/upload-resumable?upload_id=abc",
    )
    assert type(error) is NotFound
    assert error.headers["X-RateLimit-Remaining"] == "3"
    assert str(error) == (
        "404 Not Found: Not found [FileNotFound] "
        "(PUT /api/v1/videos/upload-resumable?upload_id=abc)"
    )


# Secrets

SECRET = "s3cr3t-v4lue-1234"


def test_secrets_never_reach_str_repr_or_pickle() -> None:
    headers = CIMultiDict(
        [
            ("Content-Type", "application/problem+json"),
            ("Authorization", f"Bearer {SECRET}"),
            ("Set-Cookie", f"session={SECRET}"),
            ("X-RateLimit-Remaining", "1"),
        ]
    )
    body = {
        "detail": "Incorrect request parameters: password",
        "instance": f"/api/v1/users/register?videoFileToken={SECRET}",
        "invalid-params": {
            "password": {"value": SECRET, "msg": "too short", "path": "password"},
            "x": {"value": SECRET, "path": "currentPassword"},
        },
    }
    error = error_from_response(
        status=400,
        headers=headers,
        body=json.dumps(body).encode(),
        method="POST",
        url=f"https://alice:{SECRET}@peertube.example/api/v1/users/register?token={SECRET}",
    )
    dumped = pickle.dumps(error)
    for text in (str(error), repr(error), repr(error.problem), error.url, error.body_excerpt):
        assert SECRET not in text
    assert SECRET.encode() not in dumped
    assert "Authorization" not in error.headers
    assert "Set-Cookie" not in error.headers
    assert error.headers["X-RateLimit-Remaining"] == "1"
    assert error.url == "https://peertube.example/api/v1/users/register?token=REDACTED"
    assert "alice" not in error.url


def test_ordinary_bodies_are_kept_verbatim_in_the_excerpt() -> None:
    for name in ("video-not-found", "me-invalid-token", "register-disabled"):
        assert from_sample(name).body_excerpt == samples()[name]["body"]


def test_excerpts_given_directly_are_redacted_and_bounded() -> None:
    error = NotFound(
        status=404,
        problem=Problem(status=404),
        method="GET",
        url="/x",
        body_excerpt=f'{{"refresh_token": "{SECRET}"}}\n' + "x" * 1000,
    )
    assert SECRET not in error.body_excerpt
    assert len(error.body_excerpt) <= 200
    assert "\n" not in error.body_excerpt


def test_secrets_in_text_bodies_are_redacted() -> None:
    body = f"access_token={SECRET}&x=1; Authorization: Bearer {SECRET}".encode()
    error = classify(500, body, "text/plain")
    assert SECRET not in str(error)
    assert SECRET not in error.body_excerpt


def test_decode_error_excerpt_is_redacted() -> None:
    body = json.dumps({"access_token": SECRET, "refresh_token": SECRET})[:-5].encode()
    error = ResponseDecodeError(
        "expected Token",
        status=200,
        method="POST",
        url=BASE + "/api/v1/users/token",
        body=body,
        content_type="application/json",
    )
    assert SECRET not in error.body_excerpt
    assert SECRET not in str(error)
    assert error.body_excerpt.startswith('{"access_token": "REDACTED"')
    assert str(error) == "expected Token (200; POST /api/v1/users/token)"
    back = pickle.loads(pickle.dumps(error))
    assert back.body_excerpt == error.body_excerpt
    assert str(back) == str(error)


# The other exceptions


def test_hierarchy() -> None:
    for cls in (TransportError, RateLimited, ResponseDecodeError, APIError):
        assert issubclass(cls, PeerTubeError)
    assert issubclass(ConnectError, TransportError)
    assert issubclass(RequestTimeout, TransportError)
    assert not issubclass(RateLimited, APIError)
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        ServerError,
    ):
        assert cls.__bases__ == (APIError,)


@pytest.mark.parametrize("name", [e[0] for e in EXPECTED])
def test_api_errors_pickle(name: str) -> None:
    error = from_sample(name)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.problem == error.problem
    assert back.headers == error.headers
    assert back.body_excerpt == error.body_excerpt


def test_rate_limited() -> None:
    error = RateLimited(
        "Rate limit reached",
        retry_after=9.0,
        bucket="api",
        limit=50,
        method="GET",
        url=BASE + "/api/v1/videos?count=10",
        sent=True,
    )
    assert str(error) == (
        "Rate limit reached [bucket=api, limit=50, retry_after=9.0s] (GET /api/v1/videos?count=10)"
    )
    assert (error.retry_after, error.bucket, error.limit, error.sent) == (9.0, "api", 50, True)
    back = pickle.loads(pickle.dumps(error))
    assert str(back) == str(error)
    assert back.sent is True
    local = RateLimited(
        "Would exceed the login budget", retry_after=None, bucket="login", sent=False
    )
    assert str(local) == "Would exceed the login budget [bucket=login]"
    assert local.url is None


def test_transport_errors_chain_and_hide_credentials() -> None:
    cause = OSError("connection refused")
    with pytest.raises(ConnectError) as info:
        try:
            raise cause
        except OSError as exc:
            raise ConnectError(
                "Cannot connect", method="GET", url=f"https://bob:{SECRET}@h.example/api/v1/config"
            ) from exc
    error = info.value
    assert error.__cause__ is cause
    assert str(error) == "Cannot connect (GET /api/v1/config)"
    assert error.url == "https://h.example/api/v1/config"
    assert SECRET not in repr(error)
    back = pickle.loads(pickle.dumps(RequestTimeout("Timed out", method="GET", url="/x")))
    assert type(back) is RequestTimeout
    assert str(back) == "Timed out (GET /x)"


# Rate-limit headers: the one parser the pipeline uses, on the samples


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rate-limited-api", True),
        ("token-rate-limited", True),
        ("over-limit-admin-bypass", True),
        ("resumable-init", True),
    ],
)
def test_samples_come_from_the_limiter(name: str, expected: bool) -> None:
    assert RateLimitHeaders.parse(sample_headers(name)).from_limiter is expected


def test_a_proxy_answer_is_not_the_limiter() -> None:
    proxy = RateLimitHeaders.parse(CIMultiDict({"Retry-After": "30", "Server": "nginx"}))
    assert proxy.from_limiter is False
    assert proxy.retry_after == 30.0
    assert RateLimitHeaders.parse(CIMultiDict({"x-ratelimit-remaining": "0"})).from_limiter


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9", 9.0),
        (" 245 ", 245.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-1", None),
        ("soon", None),
        ("", None),
        ("9" * 400, None),
        # HTTP-dates count from the answer's own Date (17:10:28), not the local clock.
        ("Thu, 26 Nov 2026 17:10:38 GMT", 10.0),
        ("Thu, 26 Nov 2026 17:10:18 GMT", 0.0),
        ("Thu, 26 Nov 2026 17:10:38 -0000", 10.0),
        ("Thu, 99 Nov 2026 17:10:38 GMT", None),
    ],
)
def test_retry_after_values(value: str, expected: float | None) -> None:
    headers = CIMultiDict({"Retry-After": value, "Date": "Thu, 26 Nov 2026 17:10:28 GMT"})
    assert RateLimitHeaders.parse(headers).retry_after == expected


def test_retry_after_samples() -> None:
    assert RateLimitHeaders.parse(sample_headers("rate-limited-api")).retry_after == 9.0
    assert RateLimitHeaders.parse(sample_headers("token-rate-limited")).retry_after == 245.0


# Never raising

content_types = st.sampled_from(
    [
        "",
        "application/json",
        "application/problem+json; charset=utf-8",
        "text/html; charset=utf-8",
        "text/plain",
        "application/octet-stream",
    ]
) | st.text(max_size=40)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["type", "title", "status", "detail", "code", "invalid-params", "error", "message"]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(min_value=-1, max_value=1000),
    body=st.binary(max_size=600),
    content_type=content_types,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    url=st.text(max_size=60),
)
def test_error_from_response_never_raises_on_bytes(
    status: int, body: bytes, content_type: str, method: str, url: str
) -> None:
    error = error_from_response(
        status=status,
        headers=CIMultiDict({"Content-Type": content_type}),
        body=body,
        method=method,
        url=url,
    )
    assert isinstance(error, APIError)
    assert error.status == status
    assert "\n" not in str(error)
    assert len(error.body_excerpt) <= 201
    repr(error)


@settings(max_examples=300, deadline=None)
@given(status=st.integers(min_value=400, max_value=599), data=json_values, ct=content_types)
def test_error_from_response_never_raises_on_json(status: int, data: Any, ct: str) -> None:
    body = json.dumps(data).encode()
    error = error_from_response(
        status=status,
        headers={"Content-Type": ct},
        body=body,
        method="GET",
        url=BASE + "/api/v1/videos",
    )
    assert isinstance(error, APIError)
    assert "\n" not in str(error)
    pickle.loads(pickle.dumps(error))
