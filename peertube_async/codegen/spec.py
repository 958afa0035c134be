"""Reading the OpenAPI document: operations, references, and type shapes.

Everything here is pure data work; :mod:`.render` turns the result into Python.
"""

from __future__ import annotations

import copy
import keyword
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class SpecError(Exception):
    """The spec or the overrides cannot be turned into code; the message says where."""


def snake(name: str) -> str:
    """``shortUUID`` → ``short_uuid``, ``invalid-params`` → ``invalid_params``."""
    text = re.sub(r"[^0-9A-Za-z]+", "_", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = text.strip("_").lower()
    text = re.sub(r"_+", "_", text)
    if not text:
        raise SpecError(f"cannot make an identifier of {name!r}")
    if text[0].isdigit():
        text = "n_" + text
    if keyword.iskeyword(text) or text in {"self", "cls"}:
        text += "_"
    return text


def pascal(name: str) -> str:
    """``VideoConstantNumber-Category`` → ``VideoConstantNumberCategory``."""
    parts = re.split(r"[^0-9A-Za-z]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not out or out[0].isdigit():
        out = "N" + out
    return out


@attrs.define
class Param:
    """One parameter of an operation."""

    name: str
    location: str  # path, query, header
    schema: dict[str, Any]
    required: bool
    description: str = ""
    #: The name of the spec's shared parameter it comes from (``videosSort``), if any.
    ref: str | None = None
    #: Oldest release that knows the parameter ("PeerTube >= X" in the spec).
    since: str | None = None


@attrs.define
class Operation:
    """One ``METHOD /path`` of the spec."""

    method: str
    path: str
    raw: dict[str, Any]
    params: list[Param]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def summary(self) -> str:
        return str(self.raw.get("summary") or "").strip()

    @property
    def description(self) -> str:
        return str(self.raw.get("description") or "").strip()


class Spec:
    """The parsed spec with reference resolution."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        components = raw.get("components") or {}
        self.schemas: dict[str, Any] = dict(components.get("schemas") or {})
        self.parameters: dict[str, Any] = dict(components.get("parameters") or {})

    def pointer(self, ref: str) -> Any:
        """The object a local ``#/...`` reference points at."""
        if not ref.startswith("#/"):
            raise SpecError(f"only local references are supported, not {ref!r}")
        node: Any = self.raw
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise SpecError(f"dangling reference {ref!r}")
            node = node[part]
        return node

    @staticmethod
    def schema_name(ref: str) -> str | None:
        """``Video`` for ``#/components/schemas/Video``; None for deeper pointers."""
        prefix = "#/components/schemas/"
        if ref.startswith(prefix) and "/" not in ref[len(prefix) :]:
            return ref[len(prefix) :]
        return None

    def operations(self) -> Iterator[Operation]:
        """Every operation in document order."""
        for path, item in (self.raw.get("paths") or {}).items():
            shared = item.get("parameters") or []
            for method in item:
                if method not in METHODS:
                    continue
                op = item[method]
                params = [self._param(p) for p in [*shared, *(op.get("parameters") or [])]]
                yield Operation(method.upper(), path, op, params)

    def _param(self, raw: Mapping[str, Any]) -> Param:
        ref: str | None = None
        if "$ref" in raw:
            prefix = "#/components/parameters/"
            if str(raw["$ref"]).startswith(prefix):
                ref = str(raw["$ref"])[len(prefix) :]
            raw = self.pointer(raw["$ref"])
        location = raw.get("in")
        if location not in ("path", "query", "header"):
            raise SpecError(f"unsupported parameter location {location!r} ({raw.get('name')})")
        schema = copy.deepcopy(raw.get("schema") or {"type": "string"})
        since = raw.get("x-since")
        return Param(
            name=str(raw["name"]),
            location=location,
            schema=schema,
            required=bool(raw.get("required")) or location == "path",
            description=str(raw.get("description") or "").strip(),
            ref=ref,
            since=str(since) if since is not None else None,
        )
