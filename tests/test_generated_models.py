"""The generated models against real PeerTube answers and the spec's own examples.

Samples (``shared/peertube-samples.json``, PeerTube 6.3) must decode with the strict
converter, which rejects unknown keys: a field the server sends and the model lacks is a
failure here, to be fixed by a schema patch in ``codegen/overrides.yaml``.
"""

from __future__ import annotations

import json
import logging
import re
import typing
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timezone
from typing import Any

import attrs
import pytest
import yaml

from peertube_async._convert import WIRE, DecodeMismatch, OpenStrEnum, _warned, make_converter
from peertube_async._generated import models
from peertube_async._generated import resources as generated_resources
from peertube_async._pagination import Page
from tests import fixtures

SPEC: dict[str, Any] = fixtures.spec()
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
OVERRIDES: dict[str, Any] = yaml.safe_load(fixtures.OVERRIDES_PATH.read_text())
SAMPLES: list[dict[str, Any]] = fixtures.samples()

STRICT = make_converter(strict=True)
TOLERANT = make_converter()
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


# -- spec helpers -------------------------------------------------------------------------


def resolve(node: Any) -> Any:
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def merged_props(schema: Any) -> dict[str, Any]:
    """Properties of an object schema, ``allOf`` parts merged."""
    schema = resolve(schema)
    props: dict[str, Any] = {}
    for part in schema.get("allOf") or []:
        props.update(merged_props(part))
    props.update(schema.get("properties") or {})
    return props


def single_part(schema: Any) -> Any:
    schema = resolve(schema)
    parts = schema.get("allOf") or []
    if len(parts) == 1 and not schema.get("properties"):
        return single_part(parts[0])
    return schema


def pascal(name: str) -> str:
    """Class name of a schema: ``VideoStreamingPlaylists-HLS`` -> ``VideoStreamingPlaylistsHLS``."""
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^0-9A-Za-z]+", name) if p)


def override_method(method: str, path: str) -> str:
    entry = OVERRIDES["operations"].get(f"{method} {path}")
    if isinstance(entry, dict) and "method" in entry:
        return str(entry["method"]).upper()
    return method


# Routes as the SDK sends them: (method, template, segment patterns).
ROUTES = [
    (
        override_method(method.upper(), path),
        path,
        [
            re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(seg)) + "$")
            for seg in path.strip("/").split("/")
        ],
    )
    for path, item in SPEC["paths"].items()
    for method in HTTP_METHODS
    if method in item
]

ENDPOINTS = {
    (ep.method, ep.path): ep
    for ep in vars(generated_resources).values()
    if type(ep).__name__ == "Endpoint"
}


def operation_of(method: str, concrete: str) -> str:
    """The spec path a concrete request path belongs to; literal segments win over
    ``{param}`` ones (``/videos/categories`` is not ``/videos/{id}``)."""
    segments = concrete.strip("/").split("/")
    best: tuple[list[int], str] | None = None
    for verb, template, patterns in ROUTES:
        if verb != method or len(patterns) != len(segments):
            continue
        if not all(p.match(s) for p, s in zip(patterns, segments, strict=True)):
            continue
        score = [0 if "{" in seg else 1 for seg in template.strip("/").split("/")]
        if best is None or score > best[0]:
            best = (score, template)
    if best is None:
        raise LookupError(f"no operation of the spec for {method} {concrete}")
    return best[1]


def model_for(sample: Mapping[str, Any]) -> Any:
    """The type a sample's body decodes into; LookupError when there is none."""
    # "path" may carry a note after a space, and a query string.
    concrete = sample["path"].split(" ", 1)[0].split("?", 1)[0]
    method = sample["method"]
    template = operation_of(method, concrete)
    ep = ENDPOINTS.get((method, template))
    if ep is None:
        raise LookupError(f"no generated endpoint for {method} {template}")
    if ep.page_item is not None:
        return Page[ep.item_type]  # type: ignore[name-defined]
    if ep.model is None:
        raise LookupError(f"{method} {template} has no model for its answer ({sample['name']})")
    return ep.model_type


JSON_SAMPLES = [s for s in SAMPLES if 200 <= s["status"] < 300 and s["body"]]


def sample_id(sample: Mapping[str, Any]) -> str:
    return str(sample["name"])


# -- comparing wire JSON ------------------------------------------------------------------

_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def comparable(value: Any) -> Any:
    """JSON with nulls dropped (a missing field decodes to None too) and datetimes as
    instants, so formatting does not count."""
    if isinstance(value, str) and _ISO.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, Mapping):
        return {k: comparable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [comparable(v) for v in value]
    return value


def walk(value: Any) -> Iterator[Any]:
    """Every value inside a decoded model."""
    yield value
    if attrs.has(type(value)):
        for f in attrs.fields(type(value)):
            yield from walk(getattr(value, f.name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from walk(item)


# -- samples of a real server -------------------------------------------------------------


def test_samples_include_the_main_answers() -> None:
    names = {s["name"] for s in JSON_SAMPLES}
    assert len(JSON_SAMPLES) >= 16
    assert {"token-ok", "body /api/v1/videos/1", "body /api/v1/config"} <= names


@pytest.mark.parametrize("sample", JSON_SAMPLES, ids=sample_id)
def test_sample_decodes_strictly(sample: dict[str, Any]) -> None:
    model = model_for(sample)
    wire = json.loads(sample["body"])
    decoded = STRICT.structure(wire, model)
    if isinstance(decoded, Page):
        assert len(decoded.data) == len(wire["data"])
        assert decoded.total == wire.get("total")


@pytest.mark.parametrize("sample", JSON_SAMPLES, ids=sample_id)
def test_sample_round_trips(sample: dict[str, Any]) -> None:
    wire = json.loads(sample["body"])
    back = STRICT.unstructure(STRICT.structure(wire, model_for(sample)))
    if isinstance(wire, dict) and "data" in wire and "total" in wire:
        wire = {"total": wire["total"], "data": wire["data"]}  # envelope extras aside
    assert comparable(back) == comparable(wire)


@pytest.mark.parametrize("sample", JSON_SAMPLES, ids=sample_id)
def test_sample_datetimes_are_aware(sample: dict[str, Any]) -> None:
    decoded = STRICT.structure(json.loads(sample["body"]), model_for(sample))
    for value in walk(decoded):
        if isinstance(value, datetime):
            assert value.tzinfo is not None and value.utcoffset() == timezone.utc.utcoffset(None)


def test_sample_datetimes_are_decoded() -> None:
    sample = next(s for s in JSON_SAMPLES if s["name"] == "body /api/v1/videos/1")
    video = STRICT.structure(json.loads(sample["body"]), model_for(sample))
    assert isinstance(video.published_at, datetime)
    wire = json.loads(sample["body"])["publishedAt"]
    assert video.published_at == datetime.fromisoformat(wire.replace("Z", "+00:00"))


def test_sample_paths_map_to_operations() -> None:
    assert operation_of("GET", "/api/v1/videos/categories") == "/api/v1/videos/categories"
    assert operation_of("GET", "/api/v1/videos/1") == "/api/v1/videos/{id}"
    sample = {"name": "x", "method": "POST", "path": "/api/v1/users/token (grant_type=password)"}
    assert model_for(sample) is models.OauthTokenResponse
    chunk = {"name": "x", "method": "PUT", "path": "/api/v1/videos/upload-resumable?upload_id=1"}
    assert model_for(chunk) is models.VideoUploadResponse
    assert model_for({"name": "x", "method": "GET", "path": "/api/v1/videos"}) == Page[models.Video]


@pytest.mark.parametrize(
    "sample",
    [
        {"name": "unknown route", "method": "GET", "path": "/api/v1/no-such-thing/1/2/3"},
        {"name": "no answer body", "method": "DELETE", "path": "/api/v1/videos/1"},
    ],
    ids=sample_id,
)
def test_a_sample_without_a_model_fails_loudly(sample: dict[str, Any]) -> None:
    with pytest.raises(LookupError, match=r"no (operation|model|generated)"):
        model_for(sample)


def test_strict_rejects_a_field_the_model_lacks() -> None:
    sample = next(s for s in JSON_SAMPLES if s["name"] == "body /api/v1/accounts/root")
    wire = dict(json.loads(sample["body"]), fieldOfPeerTube99=1)
    with pytest.raises(DecodeMismatch, match=r"unknown keys \['fieldOfPeerTube99'\]"):
        STRICT.structure(wire, model_for(sample))


# -- the converter's tolerance ------------------------------------------------------------


def test_tolerant_converter_ignores_unknown_keys() -> None:
    sample = next(s for s in JSON_SAMPLES if s["name"] == "body /api/v1/videos")
    wire = json.loads(sample["body"])
    wire["data"][0]["fieldOfPeerTube99"] = {"nested": True}
    wire["data"][0]["account"]["anotherNewField"] = 1
    page = TOLERANT.structure(wire, model_for(sample))
    assert page.data[0].id == wire["data"][0]["id"]
    assert page.data[0].account.name == wire["data"][0]["account"]["name"]
    with pytest.raises(DecodeMismatch, match=r"^data\[0\]"):
        STRICT.structure(wire, model_for(sample))


def open_enum_fields() -> list[tuple[type, attrs.Attribute[Any], type[OpenStrEnum]]]:
    """(model, field, enum) for every field typed with a generated OpenStrEnum."""
    found = []
    for cls in vars(models).values():
        if not (isinstance(cls, type) and attrs.has(cls)):
            continue
        hints = typing.get_type_hints(cls, vars(models))
        for f in attrs.fields(cls):
            for arg in typing.get_args(hints[f.name]):
                if isinstance(arg, type) and issubclass(arg, OpenStrEnum) and len(arg):
                    found.append((cls, f, arg))
    return found


def test_tolerant_converter_keeps_unknown_enum_values() -> None:
    fields = open_enum_fields()
    assert fields, "no model field uses an OpenStrEnum"
    for cls, f, enum_cls in fields:
        wire_name = f.metadata.get(WIRE, f.name)
        listed = next(iter(enum_cls))
        known: object = TOLERANT.structure({wire_name: listed.value}, cls)
        assert getattr(known, f.name) is listed and listed.known
        unknown: object = TOLERANT.structure({wire_name: "value-of-a-newer-server"}, cls)
        value = getattr(unknown, f.name)
        assert isinstance(value, enum_cls)
        assert not value.known
        assert value == "value-of-a-newer-server" and str(value) == "value-of-a-newer-server"
        assert TOLERANT.unstructure(unknown)[wire_name] == "value-of-a-newer-server"


# -- secrets ------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"(token|password|secret)$")


def secret_fields() -> list[tuple[type, str]]:
    return [
        (cls, f.name)
        for cls in vars(models).values()
        if isinstance(cls, type) and attrs.has(cls)
        for f in attrs.fields(cls)
        if SECRET_NAME.search(f.name)
    ]


def test_secret_fields_stay_out_of_repr() -> None:
    fields = secret_fields()
    names = {f"{cls.__name__}.{name}" for cls, name in fields}
    assert {
        "OauthTokenResponse.access_token",
        "OauthTokenResponse.refresh_token",
        "OAuthClient.client_secret",
    } <= names
    for cls, name in fields:
        marker = f"hunter2-{cls.__name__}-{name}"
        # Every other field as None: only the secret's own repr matters here.
        values: dict[str, Any] = {f.name: None for f in attrs.fields(cls)}
        text = repr(cls(**{**values, name: marker}))
        assert marker not in text, f"{cls.__name__}.{name} shows in repr"


def test_token_sample_repr_hides_tokens() -> None:
    wire = {
        "token_type": "Bearer",
        "access_token": "acc-123-secret",
        "refresh_token": "ref-456-secret",
        "expires_in": 86400,
    }
    token = STRICT.structure(wire, models.OauthTokenResponse)
    assert token.access_token == "acc-123-secret"
    assert "secret" not in repr(token) and "Bearer" in repr(token)


# -- the spec's examples ------------------------------------------------------------------


def example_json(value: Any) -> Any:
    """A YAML-parsed example back as JSON: PyYAML turns date-times into datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: example_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [example_json(v) for v in value]
    return value


def example_instance(schema: Any, depth: int = 0) -> dict[str, Any]:
    """An instance of an object schema from its properties' examples, nested objects and
    arrays of objects built the same way."""
    out: dict[str, Any] = {}
    for wire, prop in merged_props(schema).items():
        target = single_part(prop)
        if "example" in prop or "example" in target:
            out[wire] = example_json(prop["example"] if "example" in prop else target["example"])
            continue
        if depth >= 4 or "oneOf" in target or "anyOf" in target:
            continue
        if target.get("type") == "array":
            item = single_part(target.get("items") or {})
            if "example" in item:
                out[wire] = [example_json(item["example"])]
            elif merged_props(item) and not ("oneOf" in item or "anyOf" in item):
                nested = example_instance(item, depth + 1)
                if nested:
                    out[wire] = [nested]
        elif merged_props(target):
            nested = example_instance(target, depth + 1)
            if nested:
                out[wire] = nested
    return out


OBJECT_SCHEMAS = sorted(n for n, s in SCHEMAS.items() if merged_props(s))
MODELLED = [n for n in OBJECT_SCHEMAS if hasattr(models, pascal(n))]
PRIMITIVE_EXAMPLES = sorted(n for n, s in SCHEMAS.items() if "example" in s and not merged_props(s))


def test_most_object_schemas_have_a_model_of_their_name() -> None:
    assert len(MODELLED) >= 90


# Schemas the overrides file retypes (with a reason): their examples describe the spec,
# not the server.
RETYPED = {
    name.split(".")[0]
    for name, patch in OVERRIDES["schemas"].items()
    if patch.get("set_properties") or patch.get("remove_properties") or patch.get("replace")
}


@pytest.mark.parametrize("name", [n for n in MODELLED if n not in RETYPED])
def test_schema_example_decodes(name: str, caplog: pytest.LogCaptureFixture) -> None:
    instance = example_instance(SCHEMAS[name])
    _warned.clear()
    with caplog.at_level(logging.WARNING, logger="peertube_async.decode"):
        decoded = TOLERANT.structure(instance, getattr(models, pascal(name)))
    # The spec's examples leave fields out; every value they do give must fit its field.
    problems = [r.getMessage() for r in caplog.records]
    assert all("missing, although" in p for p in problems), problems
    # Decoding must not coerce: an example of the wrong type would come back changed.
    back = {k: v for k, v in STRICT.unstructure(decoded).items() if k in instance}
    assert comparable(back) == comparable(instance)


def test_examples_cover_nested_objects() -> None:
    instance = example_instance(SCHEMAS["Video"])
    assert instance["category"] == {"id": 15, "label": "Science & Technology"}
    assert isinstance(instance["thumbnails"], list) and instance["thumbnails"][0]
    assert instance["publishedAt"].endswith("Z")
    assert {"id", "uuid", "channel"} <= set(instance)


def response_schemas() -> Iterator[Any]:
    """The 2xx JSON schema of every operation (response patches applied)."""
    patches = OVERRIDES.get("responses") or {}
    for path, item in SPEC["paths"].items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            key = f"{method.upper()} {path}"
            if key in patches:
                if "schema" in patches[key]:
                    yield patches[key]["schema"]
                continue
            for code, response in sorted(item[method]["responses"].items(), key=str):
                content = (resolve(response) or {}).get("content") or {}
                if str(code).startswith("2"):
                    for ctype, media in content.items():
                        if "json" in ctype and (media or {}).get("schema"):
                            yield media["schema"]


def referenced_schemas(schema: Any, seen: set[str]) -> None:
    """Named schemas a response uses as a type (``allOf`` parts are merged, not used)."""
    if not isinstance(schema, Mapping):
        return
    ref = schema.get("$ref")
    if ref:
        name = ref.removeprefix("#/components/schemas/")
        if "/" not in name:
            if name in seen:
                return
            seen.add(name)
        referenced_schemas(resolve(schema), seen)
        return
    for part in schema.get("allOf") or []:
        referenced_schemas(dict(resolve(part)), seen)
    for key in ("oneOf", "anyOf"):
        for option in schema.get(key) or []:
            referenced_schemas(option, seen)
    for prop in (schema.get("properties") or {}).values():
        referenced_schemas(prop, seen)
    for key in ("items", "additionalProperties"):
        referenced_schemas(schema.get(key), seen)


def test_every_response_object_schema_has_a_model_of_its_name() -> None:
    seen: set[str] = set()
    for schema in response_schemas():
        referenced_schemas(schema, seen)
    missing = sorted(n for n in seen if merged_props(SCHEMAS[n]) and not hasattr(models, pascal(n)))
    # {total, data} envelopes decode as Page[item] instead.
    envelopes = [n for n in missing if set(merged_props(SCHEMAS[n])) >= {"total", "data"}]
    # A property the overrides file retypes (with its reason) no longer uses its schema.
    replaced = {
        prop["$ref"].removeprefix("#/components/schemas/")
        for name, patch in OVERRIDES["schemas"].items()
        if "." not in name
        for wire in patch.get("set_properties") or ()
        for prop in [merged_props(SCHEMAS[name]).get(wire) or {}]
        if "$ref" in prop
    }
    assert missing == sorted({*envelopes, *(n for n in missing if n in replaced)})
    assert "VideoListResponse" in envelopes


def field_types_of(schema_name: str) -> list[tuple[str, Any]]:
    """(model.field, type) of every model field whose property refers to ``schema_name``."""
    ref = f"#/components/schemas/{schema_name}"
    found = []
    for name in MODELLED:
        cls = getattr(models, pascal(name))
        hints = typing.get_type_hints(cls, vars(models))
        by_wire = {f.metadata.get(WIRE, f.name): f.name for f in attrs.fields(cls)}
        patched = set((OVERRIDES["schemas"].get(name) or {}).get("set_properties") or ())
        for wire, prop in merged_props(SCHEMAS[name]).items():
            if wire in patched:
                continue  # the overrides file gives it another type, with its reason
            parts = [prop, *(prop.get("allOf") or [])]
            if any(p.get("$ref") == ref for p in parts) and wire in by_wire:
                found.append((f"{cls.__name__}.{by_wire[wire]}", hints[by_wire[wire]]))
    return found


def plain_type(schema: Any) -> Any:
    """The Python type a primitive schema decodes into, by the spec alone."""
    schema = single_part(schema)
    kind = schema.get("type")
    if kind == "array":
        return tuple[plain_type(schema.get("items") or {}), ...]  # type: ignore[misc]
    if kind == "string" and schema.get("format") == "date-time":
        return datetime
    return {"integer": int, "number": float, "boolean": bool, "string": str}[kind]


@pytest.mark.parametrize("name", PRIMITIVE_EXAMPLES)
def test_primitive_example_decodes_into_its_field_types(name: str) -> None:
    schema = SCHEMAS[name]
    example = example_json(schema["example"])
    if "enum" in schema:
        assert example in schema["enum"]
    targets = [(f"<{name}>", plain_type(schema)), *field_types_of(name)]
    for where, target in targets:
        decoded = STRICT.structure(example, target)
        assert comparable(STRICT.unstructure(decoded)) == comparable(example), where


def test_primitive_examples_reach_model_fields() -> None:
    used = {name for name in PRIMITIVE_EXAMPLES if field_types_of(name)}
    assert {"id", "UUIDv4", "shortUUID", "AbusePredefinedReasons"} <= used
