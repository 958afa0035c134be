"""The generated API surface against the OpenAPI spec, over real sockets.

Expected requests are derived from the spec (and the exceptions the overrides file
declares with a reason), never from the generated code: each operation is driven with
arguments synthesized from its parameters and body schema, and a recording server on
127.0.0.1 checks what actually went over the wire.
"""

from __future__ import annotations

import inspect
import json
import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, quote

import attrs
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy, MultiDict

from peertube_async import PeerTube
from peertube_async._generated.routes import OPERATIONS
from peertube_async._pagination import Page, Paginator
from peertube_async._routes import limiter_classes
from peertube_async.testing import FakeInstance
from tests import fixtures

SPEC: dict[str, Any] = fixtures.spec()
OVERRIDES: dict[str, Any] = yaml.safe_load(fixtures.OVERRIDES_PATH.read_text())

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
EXPECTED_OPERATIONS = 305
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
WHEN_WIRE = "2024-01-02T03:04:05.000Z"


# -- the spec, read independently of the generator ----------------------------------------


def resolve(node: Any) -> Any:
    """Follow local ``$ref`` pointers (JSON pointer escapes included)."""
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


@dataclass
class SpecOp:
    method: str  # as the spec documents it
    path: str
    raw: dict[str, Any]
    params: list[dict[str, Any]]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def wire_key(self) -> str:
        """The key in ``OPERATIONS``: with the method the SDK sends (see wire_method)."""
        return f"{wire_method(self)} {self.path}"


def spec_operations() -> list[SpecOp]:
    ops = []
    for path, item in SPEC["paths"].items():
        shared = [resolve(p) for p in item.get("parameters") or []]
        for method in HTTP_METHODS:
            if method not in item:
                continue
            raw = item[method]
            own = [resolve(p) for p in raw.get("parameters") or []]
            # An operation's parameter replaces a path-level one of the same name and place.
            mine = {(p["name"], p["in"]) for p in own}
            params = [p for p in shared if (p["name"], p["in"]) not in mine] + own
            ops.append(SpecOp(method.upper(), path, raw, params))
    return ops


SPEC_OPS = spec_operations()
SPEC_BY_KEY = {op.key: op for op in SPEC_OPS}


def override_entry(key: str) -> dict[str, Any]:
    entry = OVERRIDES["operations"][key]
    return {"name": entry} if isinstance(entry, str) else dict(entry)


def wire_method(op: SpecOp) -> str:
    """The HTTP method the SDK must send: the spec's, unless overridden with a reason."""
    entry = override_entry(op.key)
    if "method" in entry:
        assert str(entry.get("reason") or "").strip(), f"{op.key}: method override needs a reason"
        return str(entry["method"]).upper()
    return op.method


def snake(name: str) -> str:
    """Python name of a wire name: ``videoIdOrUUID`` -> ``video_id_or_uuid``."""
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    return text + "_" if keyword.iskeyword(text) else text


def merged_object(schema: Any) -> tuple[dict[str, Any], bool]:
    """Properties of an object schema with ``allOf`` merged, and whether it is one."""
    schema = resolve(schema)
    props: dict[str, Any] = {}
    is_object = bool(schema.get("properties")) or schema.get("type") == "object"
    for part in schema.get("allOf") or []:
        sub, sub_obj = merged_object(part)
        props.update(sub)
        is_object = is_object or sub_obj
    props.update(schema.get("properties") or {})
    return props, is_object


def single_part(schema: Any) -> Any:
    """``allOf: [X]`` (possibly with only a description beside it) is X."""
    schema = resolve(schema)
    parts = schema.get("allOf") or []
    if len(parts) == 1 and not schema.get("properties"):
        return single_part(parts[0])
    return schema


# -- synthesized values -------------------------------------------------------------------


class Synth:
    """Type-appropriate values, distinct where the type allows (so swapped arguments show)."""

    def __init__(self) -> None:
        self.n = 0

    def tick(self) -> int:
        self.n += 1
        return self.n

    def value(self, schema: Any, *, query: bool = False, depth: int = 0) -> Any:
        schema = single_part(schema)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                options = [single_part(o) for o in schema[key]]
                if query:
                    # Lists go out as repeated keys: exercise that where the spec allows it.
                    arrays = [o for o in options if o.get("type") == "array" or "items" in o]
                    options = arrays or options
                return self.value(options[0], query=query, depth=depth)
        if "enum" in schema:
            values = [v for v in schema["enum"] if v is not None]
            return values[self.tick() % len(values)]
        kind = schema.get("type")
        if kind == "array" or (kind is None and "items" in schema):
            item = single_part(schema.get("items") or {"type": "string"})
            options = item.get("oneOf") or item.get("anyOf")
            if options and not query:
                # A list of alternatives (studio tasks): one item of each kind.
                return [self.value(o, depth=depth + 1) for o in options]
            return [self.value(item, depth=depth + 1) for _ in range(2)]
        props, is_object = merged_object(schema)
        if is_object or kind == "object":
            if depth > 5:
                return {}
            if props:
                return {k: self.value(v, depth=depth + 1) for k, v in props.items()}
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping) and extra:
                return {f"k{self.tick()}": self.value(extra, depth=depth + 1)}
            return {"free": f"form {self.tick()}"}
        n = self.tick()
        if kind == "integer":
            return 100 + n
        if kind == "number":
            return 100 + n + 0.5
        if kind == "boolean":
            return n % 2 == 0
        fmt = schema.get("format")
        if fmt == "date-time":
            return WHEN
        if fmt == "binary":
            return f"file bytes {n}".encode()
        if fmt == "uuid":
            return f"9c9de5e8-0a1e-484a-b099-{n:012d}"
        if fmt == "email":
            return f"user{n}@example.org"
        if fmt == "hostname":
            return f"host{n}.example.org"
        # Spaces, slashes, reserved and non-ASCII characters prove the encoding.
        return f"s{n} é/&=?+"


def to_json(value: Any) -> Any:
    """The JSON the server should see for a synthesized value."""
    if isinstance(value, datetime):
        assert value == WHEN
        return WHEN_WIRE
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def to_text(value: Any) -> str:
    """A scalar as text in a query, a header, a form or a multipart field."""
    value = to_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    assert isinstance(value, (str, int, float)), value
    return str(value)


def multipart_fields(name: str, value: Any) -> Iterator[tuple[str, str | bytes]]:
    """PeerTube's multipart convention for nested values (``a[0]``, ``a[key]``, as its
    body parser reads them back); bytes are file parts, wherever they are nested."""
    if isinstance(value, bytes):
        yield name, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from multipart_fields(f"{name}[{key}]", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from multipart_fields(f"{name}[{i}]", item)
    elif value is not None:
        yield name, to_text(value)


def without_files(value: Any, path: str) -> tuple[Any, list[str]]:
    """``value`` without its bytes (JSON cannot carry them), and where they were."""
    if isinstance(value, Mapping):
        kept, dropped = {}, []
        for key, item in value.items():
            if isinstance(item, bytes):
                dropped.append(f"{path}.{key}")
                continue
            kept[key], more = without_files(item, f"{path}.{key}")
            dropped += more
        return kept, dropped
    if isinstance(value, list):
        pairs = [without_files(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return [v for v, _ in pairs], [d for _, ds in pairs for d in ds]
    return value, []


# -- one operation's expected exchange ----------------------------------------------------


@dataclass
class Plan:
    """How to call one operation and what the server must see and answer."""

    op: SpecOp
    method: str
    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body_kind: str | None = None
    body: Any = None
    files: dict[str, bytes] = field(default_factory=dict)
    #: File fields the spec puts in a JSON body (left out of the call; see below).
    json_files: list[str] = field(default_factory=list)
    paginated: bool = False
    status: int = 200
    reply_type: str | None = None
    reply: bytes = b""
    reply_kind: str = "none"  # json, text, bytes, none


def response_of(op: SpecOp) -> tuple[int, str | None, Any]:
    """(status, content type, schema) of the first 2xx answer with a body, else of the
    first 2xx answer; a response patch of the overrides file replaces the schema."""
    responses = op.raw.get("responses") or {}
    codes = sorted(str(c) for c in responses if str(c).startswith("2"))
    patch = (OVERRIDES.get("responses") or {}).get(op.key)
    first = int(codes[0]) if codes else 200
    if patch is not None and patch.get("kind", "json") != "json":
        assert str(patch.get("reason") or "").strip()
        kind = patch["kind"]
        if kind == "none":
            return first, None, None
        return first, "application/octet-stream" if kind == "binary" else "text/plain", None
    if (
        patch is not None
        and "schema" in patch
        and not any(
            (resolve(responses.get(c) or responses.get(int(c))) or {}).get("content") for c in codes
        )
    ):
        # The spec documents no body; the server sends one (200), which the patch describes.
        assert str(patch.get("reason") or "").strip()
        return 200, "application/json", patch["schema"]
    for code in codes:
        content = (resolve(responses.get(code) or responses.get(int(code))) or {}).get("content")
        if content:
            ctype, media = next(iter(content.items()))
            schema = (media or {}).get("schema") or {}
            if patch is not None:
                assert str(patch.get("reason") or "").strip()
                schema = patch["schema"]
            return int(code), ctype, schema
    return (int(codes[0]) if codes else 200), None, None


def plan_for(op: SpecOp, *, files_in_json: bool = False) -> Plan:
    synth = Synth()
    plan = Plan(op=op, method=wire_method(op), name=OPERATIONS[op.wire_key])
    taken: set[str] = set()

    # Path: placeholders in order, positional, each value one encoded segment.
    by_name = {p["name"]: p for p in op.params if p["in"] == "path"}
    path = op.path
    for i, placeholder in enumerate(re.findall(r"{([^}]+)}", op.path)):
        schema = (by_name.get(placeholder) or {}).get("schema") or {"type": "string"}
        value: Any = synth.value(schema)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            value = f"seg{i} é/?"
        plan.args.append(value)
        path = path.replace("{" + placeholder + "}", quote(str(value), safe=""), 1)
        taken.add(snake(placeholder))
    plan.path = path

    # Query and header parameters: every one given.
    query_names = {p["name"] for p in op.params if p["in"] == "query"}
    for param in op.params:
        where = param["in"]
        if where not in ("query", "header"):
            continue
        wire = param["name"]
        name = snake(wire)
        if name in taken:
            name = f"{name}_{where}"
        taken.add(name)
        schema = param.get("schema") or {"type": "string"}
        if where == "query":
            if wire in ("start", "count"):
                value = {"start": 3, "count": 5}[wire]
            else:
                value = synth.value(schema, query=True)
            plan.kwargs[name] = value
            items = value if isinstance(value, list) else [value]
            plan.query.extend((wire, to_text(v)) for v in items)
        else:
            kind = resolve(schema).get("type")
            if wire.lower() == "content-length":
                value = len(OCTET_CONTENT) if op.method == "PUT" else 0
            elif kind in ("number", "integer"):
                value = 1000 + synth.tick()
            else:
                value = f"header-value-{synth.tick()}"
            plan.kwargs[name] = value
            plan.headers[wire] = to_text(value)

    _plan_body(plan, synth, taken, files_in_json=files_in_json)

    status, ctype, schema = response_of(op)
    plan.status = status
    patch = (OVERRIDES.get("responses") or {}).get(op.key) or {}
    if ctype is None:
        plan.reply_kind = "none"
    elif "json" in ctype:
        plan.reply_kind = "json"
        plan.reply_type = "application/json; charset=utf-8"
        props, _ = merged_object(schema) if schema else ({}, False)
        data = resolve(props.get("data") or {})
        has_items = data.get("type") == "array"
        pages = {"start", "count"} <= query_names
        plan.paginated = bool(patch.get("paginated")) or (has_items and pages)
        if plan.paginated and not pages:
            # Paginated by an overrides patch: the first page is asked from 0.
            plan.query.append(("start", "0"))
        plan.reply = json.dumps(json_answer(schema, plan.paginated)).encode()
    elif ctype.startswith("text/") or ctype.endswith("xml"):
        plan.reply_kind = "text"
        plan.reply_type = f"{ctype}; charset=utf-8"
        plan.reply = "<feed>é</feed>".encode()
    else:
        plan.reply_kind = "bytes"
        plan.reply_type = ctype
        plan.reply = b"\x00\x01binary\xff"
    return plan


OCTET_CONTENT = b"chunk of a file\x00\xff"


def _plan_body(plan: Plan, synth: Synth, taken: set[str], *, files_in_json: bool) -> None:
    op = plan.op
    body = resolve(op.raw.get("requestBody"))
    if not body:
        return
    ctype, media = next(iter(body["content"].items()))
    schema = (media or {}).get("schema") or {}
    patch = (OVERRIDES.get("requests") or {}).get(op.key)
    if patch is not None:
        assert str(patch.get("reason") or "").strip(), f"{op.key}: request patch needs a reason"
        schema = patch.get("schema", schema)
        if not files_in_json:
            ctype = patch.get("content_type", ctype)
    kind = {
        "application/json": "json",
        "multipart/form-data": "multipart",
        "application/x-www-form-urlencoded": "form",
        "application/octet-stream": "octet",
    }[ctype]
    plan.body_kind = kind
    if kind == "octet":
        plan.kwargs["content"] = OCTET_CONTENT
        plan.body = OCTET_CONTENT
        return
    schema = resolve(schema)
    props: dict[str, Any] = {}
    for option in schema.get("oneOf") or schema.get("anyOf") or [schema]:
        props.update(merged_object(option)[0])
    assert props, f"{op.key}: request body without properties"
    fields: dict[str, Any] = {}
    for wire, prop in props.items():
        name = snake(wire)
        if name in taken:
            name = f"{name}_body"
        taken.add(name)
        value = synth.value(prop)
        if kind == "json" and not files_in_json:
            if isinstance(value, bytes):
                plan.json_files.append(f"{name}")
                continue
            value, dropped = without_files(value, name)
            plan.json_files += dropped
        plan.kwargs[name] = value
        fields[wire] = value
    if files_in_json and has_bytes(fields):
        # The server reads these fields as files of a multipart body (multer).
        kind = plan.body_kind = "multipart"
    if kind == "json":
        plan.body = to_json(fields)
    elif kind == "form":
        plan.body = sorted((k, to_text(v)) for k, v in fields.items())
    else:
        parts = [kv for k, v in fields.items() for kv in multipart_fields(k, v)]
        plan.files = {k: v for k, v in parts if isinstance(v, bytes)}
        plan.body = sorted((k, v) for k, v in parts if isinstance(v, str))


def has_bytes(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(has_bytes(v) for v in value.values())
    if isinstance(value, list):
        return any(has_bytes(v) for v in value)
    return isinstance(value, bytes)


def json_answer(schema: Any, paginated: bool) -> Any:
    """A minimal valid answer: an empty page, list or object, or a scalar."""
    if paginated:
        return {"total": 0, "data": []}
    schema = single_part(schema or {})
    if "oneOf" in schema or "anyOf" in schema:
        return {}
    kind = schema.get("type")
    if kind == "array":
        return []
    if kind in ("object", None) or merged_object(schema)[1]:
        return {}
    return {"integer": 1, "number": 1.5, "boolean": True, "string": "text"}[kind]


# -- the recording server ----------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    raw_path: str
    query: MultiDict[str]
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def path(self) -> str:
        return self.raw_path.partition("?")[0]

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> list[tuple[str, str]]:
        return sorted(parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=True))

    def multipart(self) -> tuple[list[tuple[str, str]], dict[str, tuple[str, bytes, str]]]:
        """Text fields (sorted) and files (name -> filename, content, content type)."""
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        assert message.is_multipart()
        texts: list[tuple[str, str]] = []
        files: dict[str, tuple[str, bytes, str]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True)
            # Every form-data part names its field and carries a non-multipart body.
            assert isinstance(name, str) and isinstance(payload, bytes)
            if filename is not None:
                files[name] = (filename, payload, part.get_content_type())
            else:
                texts.append((name, payload.decode()))
        return sorted(texts), files


class Recorder:
    """Catch-all aiohttp server that records every request and gives a set answer."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.status = 200
        self.content_type: str | None = "application/json"
        self.body = b"{}"
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            Recorded(
                request.method,
                request.raw_path,
                MultiDict(request.query),
                request.headers,
                await request.read(),
            )
        )
        if self.content_type is None or self.status == 204:
            return web.Response(status=self.status)
        return web.Response(
            status=self.status, body=self.body, headers={"Content-Type": self.content_type}
        )


@pytest.fixture
async def recorder() -> Any:
    rec = Recorder()
    await rec.server.start_server()
    try:
        yield rec
    finally:
        await rec.server.close()


@pytest.fixture
async def client(recorder: Recorder) -> Any:
    async with PeerTube(
        str(recorder.server.make_url("/")),
        rate_limiting=False,
        retries=0,
        timeout=2,
        # One request per operation: no look at the instance's version first.
        check_server_version=False,
    ) as pt:
        yield pt


def resolve_method(pt: PeerTube, dotted: str) -> Any:
    target: Any = pt
    for part in dotted.split("."):
        target = getattr(target, part)
    return target


# -- coverage of the mapping --------------------------------------------------------------


def test_spec_has_the_documented_operation_count() -> None:
    assert len(SPEC_OPS) == EXPECTED_OPERATIONS
    assert len(SPEC_BY_KEY) == EXPECTED_OPERATIONS  # no METHOD /path twice


def test_operations_cover_the_spec_exactly_once() -> None:
    # Keyed by the method sent, which differs from the spec's only where the overrides
    # file says so with a reason.
    wire_keys = [op.wire_key for op in SPEC_OPS]
    assert len(set(wire_keys)) == EXPECTED_OPERATIONS
    assert sorted(OPERATIONS) == sorted(wire_keys)
    # The generated table names each operation as the overrides file does.
    assert {op.wire_key: override_entry(op.key)["name"] for op in SPEC_OPS} == OPERATIONS


def test_no_two_operations_share_a_method() -> None:
    names = list(OPERATIONS.values())
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert duplicates == []


async def test_every_operation_is_a_method_of_the_client() -> None:
    async with PeerTube("http://127.0.0.1:9", rate_limiting=False) as pt:
        seen: dict[int, str] = {}
        for key, dotted in OPERATIONS.items():
            parts = dotted.split(".")
            assert 2 <= len(parts) <= 3, dotted
            method = resolve_method(pt, dotted)
            assert callable(method), f"{key}: pt.{dotted} is not callable"
            assert inspect.ismethod(method), f"{key}: pt.{dotted} is not a bound method"
            func = method.__func__
            assert id(func) not in seen, f"{key} and {seen.get(id(func))} share pt.{dotted}"
            seen[id(func)] = key


# -- every operation over the wire --------------------------------------------------------


@pytest.mark.parametrize("key", sorted(SPEC_BY_KEY))
async def test_operation_request_matches_spec(
    key: str, recorder: Recorder, client: PeerTube
) -> None:
    plan = plan_for(SPEC_BY_KEY[key])
    result = await _drive(plan, recorder, client)
    assert len(recorder.requests) == 1
    _check_request(plan, recorder.requests[0])
    _check_result(plan, result)


# The spec gives these operations a JSON body with file fields, which JSON cannot carry;
# the server reads them as multipart files (multer: thumbnailfile, payload[videoFile]...).
JSON_FILE_OPS = sorted(op.key for op in SPEC_OPS if plan_for(op, files_in_json=True).files)


def test_file_fields_in_json_bodies_are_sent_as_multipart() -> None:
    requests = OVERRIDES.get("requests") or {}
    json_specs = [
        k
        for k in JSON_FILE_OPS
        if "application/json" in resolve(SPEC_BY_KEY[k].raw["requestBody"])["content"]
    ]
    assert json_specs == [
        "POST /api/v1/runners/jobs/{jobUUID}/success",
        "POST /api/v1/runners/jobs/{jobUUID}/update",
        "POST /api/v1/videos/upload-resumable",
    ]
    for key in json_specs:
        assert requests[key]["content_type"] == "multipart/form-data", key


@pytest.mark.parametrize(
    "key",
    [
        "POST /api/v1/runners/jobs/{jobUUID}/success",
        "POST /api/v1/runners/jobs/{jobUUID}/update",
        "POST /api/v1/videos/upload-resumable",
    ],
)
async def test_file_fields_in_json_bodies_reach_the_server(
    key: str, recorder: Recorder, client: PeerTube
) -> None:
    plan = plan_for(SPEC_BY_KEY[key], files_in_json=True)
    assert plan.body_kind == "multipart" and plan.files
    await _drive(plan, recorder, client)
    _check_request(plan, recorder.requests[0])


async def _drive(plan: Plan, recorder: Recorder, client: PeerTube) -> Any:
    """Call the operation's method with the plan's arguments; its decoded answer."""
    recorder.status = plan.status
    recorder.content_type = plan.reply_type
    recorder.body = plan.reply
    method = resolve_method(client, plan.name)
    if plan.paginated:
        assert not inspect.iscoroutinefunction(method), f"pt.{plan.name} should be paginated"
        paginator = method(*plan.args, **plan.kwargs)
        assert isinstance(paginator, Paginator)
        return await paginator
    assert inspect.iscoroutinefunction(method), f"pt.{plan.name} should be async"
    return await method(*plan.args, **plan.kwargs)


def _check_request(plan: Plan, got: Recorded) -> None:
    assert got.method == plan.method
    assert got.path == plan.path
    assert sorted(got.query.items()) == sorted(plan.query)
    for name, value in plan.headers.items():
        assert got.headers.getall(name) == [value], name

    if plan.body_kind is None:
        assert got.body == b""
    elif plan.body_kind == "json":
        assert got.content_type == "application/json"
        assert got.json() == plan.body
    elif plan.body_kind == "form":
        assert got.content_type == "application/x-www-form-urlencoded"
        assert got.form() == plan.body
    elif plan.body_kind == "octet":
        assert got.content_type == "application/octet-stream"
        assert got.body == plan.body
    else:
        assert got.content_type == "multipart/form-data"
        texts, files = got.multipart()
        assert texts == plan.body
        assert sorted(files) == sorted(plan.files)
        for wire, content in plan.files.items():
            filename, received, _ = files[wire]
            assert received == content
            assert filename


def _check_result(plan: Plan, result: Any) -> None:
    if plan.reply_kind == "none":
        assert result is None
    elif plan.reply_kind == "bytes":
        assert result == plan.reply
    elif plan.reply_kind == "text":
        assert result == plan.reply.decode()
    elif plan.paginated:
        assert isinstance(result, Page)
        assert (result.total, list(result.data)) == (0, [])
    else:
        answer = json.loads(plan.reply)
        if isinstance(answer, dict):
            # A model (every field None) or a free-form mapping.
            assert attrs.has(type(result)) or result == {}, result
        elif isinstance(answer, list):
            assert list(result) == []
        else:
            assert result == answer


def test_synthesized_values_exercise_every_encoding() -> None:
    plans = [plan_for(op) for op in SPEC_OPS]
    kinds = {p.body_kind for p in plans}
    assert kinds == {None, "json", "multipart", "form", "octet"}
    assert any(p.paginated for p in plans)
    assert {p.reply_kind for p in plans} == {"json", "none", "text", "bytes"}
    query_values = {v for p in plans for _, v in p.query}
    assert {"true", "false", WHEN_WIRE} <= query_values
    assert any(len({k for k, _ in p.query}) < len(p.query) for p in plans)  # repeated keys
    assert any("%2F" in p.path and "%C3%A9" in p.path for p in plans)
    assert any(p.headers for p in plans)
    assert any(p.files for p in plans)
    assert any("[" in name for p in plans if p.body_kind == "multipart" for name, _ in p.body)
    assert any(p.method != p.op.method for p in plans)


# -- limiter classes ----------------------------------------------------------------------


def expected_limiters(key: str) -> tuple[str, ...]:
    entry = override_entry(key)
    if "limiter" in entry:
        return tuple(entry["limiter"])
    return ("api",) if SPEC_BY_KEY[key].path.startswith("/api/v1/") else ()


@pytest.mark.parametrize("key", sorted(SPEC_BY_KEY))
def test_limiter_classes_follow_the_overrides(key: str) -> None:
    plan = plan_for(SPEC_BY_KEY[key])
    assert limiter_classes(plan.method, plan.path) == expected_limiters(key)


def test_special_limiters_are_declared() -> None:
    assert expected_limiters("POST /api/v1/users/token") == ("api", "login")
    assert expected_limiters("POST /api/v1/users/register") == ("api", "signup")
    assert expected_limiters("GET /feeds/videos.{format}") == ("feeds",)
    assert expected_limiters("GET /api/v1/videos") == ("api",)


# -- end to end against FakeInstance ------------------------------------------------------


@pytest.fixture
async def fake() -> Any:
    async with FakeInstance(videos=7, rate_limit=False) as instance:
        yield instance


async def test_fake_instance_lists_videos(fake: FakeInstance) -> None:
    async with PeerTube(str(fake.url), rate_limiting=False) as pt:
        page = await pt.videos.list(count=3)
        assert page.total == 7
        assert len(page.data) == 3
        every = [v async for v in pt.videos.list(count=2)]
        every_ids: list[int] = []
        for v in every:
            assert v.id is not None
            every_ids.append(v.id)
        assert sorted(every_ids) == sorted(v.id for v in fake.videos)
        assert {v.uuid for v in every} == {v.uuid for v in fake.videos}
        limited = await pt.videos.list(count=2, limit=5).to_list()
        assert len(limited) == 5


async def test_fake_instance_video_account_channels_config(fake: FakeInstance) -> None:
    from peertube_async._generated import models

    async with PeerTube(str(fake.url), rate_limiting=False) as pt:
        seeded = fake.videos[0]
        video = await pt.videos.get(seeded.uuid)
        assert isinstance(video, models.VideoDetails)
        assert (video.id, video.uuid, video.name) == (seeded.id, seeded.uuid, seeded.name)
        assert video.published_at is not None and video.published_at.tzinfo is not None

        account = await pt.accounts.get("root")
        assert account.name == "root"

        channels = await pt.video_channels.list()
        assert channels.total is not None and channels.total >= 1
        assert all(c.name for c in channels.data)

        config = await pt.config.get()
        assert config.instance is not None and config.instance.name

        categories_method = OPERATIONS["GET /api/v1/videos/categories"]
        categories = await resolve_method(pt, categories_method)()
        assert isinstance(categories, dict) and categories
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in categories.items())
