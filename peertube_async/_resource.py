"""The small runtime surface generated resources are written against.

A generated method only fills an :class:`Endpoint` with its arguments; encoding the
path, dropping arguments that were not given, converting bodies, paging, and decoding the
answer all happen here, so the core can change without regenerating anything.
"""

from __future__ import annotations

import enum
import functools
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from ._bodies import FileInput, FilePart, FormBody, MultipartBody, file_part
from ._errors import ResponseDecodeError
from ._files import save_to_file
from ._pagination import Page, Paginator
from ._pipeline import OFF_LOOP_BYTES, Caller, decode_json_async, encode_path
from ._types import NOT_GIVEN

__all__ = ["Endpoint", "FileInput", "Resource"]


@attrs.frozen
class Endpoint:
    """One operation: its route, how its body is sent and what its answer decodes to."""

    method: str
    path: str
    #: ``json`` (decoded, into ``model`` when set), ``none``, ``binary`` or ``text``.
    response: str = "json"
    #: A type, or the name of a generated model (looked up when first needed).
    model: Any = None
    #: ``json``, ``multipart``, ``form``, ``octet`` or None.
    body: str | None = None
    #: Item type (or model name) when the answer is a ``{total, data}`` page.
    page_item: Any = None
    #: Multipart fields that carry files.
    files: frozenset[str] = frozenset()
    #: Oldest PeerTube release that has the operation (``"7.1"``); None: all of them.
    since: str | None = None
    #: Arguments only newer releases know: (wire name, oldest release), checked when given.
    since_args: tuple[tuple[str, str], ...] = ()
    #: The method's name on the client (``oauth.list_sessions``), for messages.
    name: str = ""

    @property
    def model_type(self) -> Any:
        """The type the answer decodes into (None: plain JSON)."""
        return _type_of(self.model)

    @property
    def item_type(self) -> Any:
        """The type of a page's items (None: not a page)."""
        return _type_of(self.page_item)


@functools.cache
def _named_model(name: str) -> Any:
    from ._generated import models

    return getattr(models, name)


def _type_of(value: Any) -> Any:
    """An endpoint's model or item type: names of generated models are looked up (so
    that importing the resources builds no model)."""
    return _named_model(value) if isinstance(value, str) else value


def _given(values: Mapping[str, Any] | None) -> dict[str, Any]:
    if not values:
        return {}
    return {k: v for k, v in values.items() if v is not NOT_GIVEN}


class Resource:
    """Base of every resource: holds the caller (pipeline, converter, options)."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def _plain(self, value: Any) -> Any:
        """JSON-ready form of a request value (models, enums, datetimes, sequences);
        bytes and files are left for the multipart encoder."""
        cls = value.__class__
        if cls is str or cls is int or cls is bool or value is None:
            return value
        if isinstance(value, (bytes, bytearray, memoryview, os.PathLike)) or hasattr(value, "read"):
            return value
        if value is None or isinstance(value, (str, int, float, bool)):
            return value.value if isinstance(value, enum.Enum) else value
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, datetime) or attrs.has(type(value)):
            return self._caller.converter.unstructure(value)
        if isinstance(value, Mapping):
            return {str(k): self._plain(v) for k, v in value.items()}
        if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            return [self._plain(v) for v in value]
        return value

    def _encode_body(self, ep: Endpoint, body: Mapping[str, Any]) -> tuple[Any, Any]:
        """(json, data) arguments for the pipeline."""
        fields = _given(body)
        if ep.body == "json":
            return {k: self._plain(v) for k, v in fields.items()}, None
        if ep.body == "octet":
            content = fields.get("content", b"")
            if not isinstance(content, (bytes, bytearray)):
                raise TypeError("content must be bytes")
            return None, bytes(content)
        if ep.body == "form":
            return None, FormBody({k: _text(self._plain(v)) for k, v in fields.items()})
        parts: list[tuple[str, str | FilePart]] = []
        for key, value in fields.items():
            if key in ep.files:
                parts.append((key, file_part(value, key)))
            else:
                _flatten(key, self._plain(value), parts)
        return None, MultipartBody(tuple(parts))

    async def _call(
        self,
        ep: Endpoint,
        path: Sequence[Any] = (),
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        dest: str | os.PathLike[str] | None = None,
    ) -> Any:
        caller = self._caller
        name = ep.name or f"{ep.method} {ep.path}"
        if ep.since is not None:
            await caller.require(ep.since, name)
        for wire, since in ep.since_args:
            for given in (query, body, headers):
                if given and given.get(wire, NOT_GIVEN) is not NOT_GIVEN:
                    await caller.require(since, f"{name}({wire}=...)")
        url = encode_path(ep.path, *path)
        json_body, data = (None, None) if ep.body is None else self._encode_body(ep, body or {})
        head = {k: _text(self._plain(v)) for k, v in _given(headers).items()} if headers else {}
        params = {k: self._plain(v) for k, v in _given(query).items()} if query else {}
        if dest is not None:
            return await save_to_file(
                caller.pipeline,
                ep.method,
                url,
                Path(dest),
                params=params,
                json=json_body,
                priority=caller.options.priority,
                timeout=caller.options.timeout,
            )
        resp = await caller.send(
            ep.method,
            url,
            params=params,
            json=json_body,
            data=data,
            headers=head or None,
        )
        if ep.response == "none":
            return None
        if ep.response == "binary":
            return resp.body
        if ep.response == "text":
            return resp.body.decode("utf-8", errors="replace")
        if resp.status == 204 or not resp.body or resp.body.isspace():
            if ep.method != "GET":
                # The write went through; the server just said nothing about it.
                return None
            raise ResponseDecodeError(
                "the answer is empty where JSON was expected",
                status=resp.status,
                method=ep.method,
                url=url,
            )
        decoded = await decode_json_async(
            resp, ep.method, url, require=True, secrets=caller.pipeline.secrets()
        )
        if ep.model is None:
            return decoded
        return await caller.structure_async(
            decoded,
            ep.model_type,
            method=ep.method,
            path=url,
            status=resp.status,
            large=len(resp.body) > OFF_LOOP_BYTES,
        )

    def _list(
        self,
        ep: Endpoint,
        path: Sequence[Any] = (),
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        start: int = 0,
        count: int | None = None,
        limit: int | None = None,
    ) -> Paginator[Any]:
        item = ep.item_type
        page_type = Page[item]  # type: ignore[valid-type]
        fixed = _given(query)

        item_type = tuple[item, ...]  # type: ignore[valid-type]

        async def fetch(first: int, size: int | None) -> Page[Any]:
            params = dict(fixed, start=first)
            if size is not None:
                params["count"] = size
            decoded = await self._call(
                attrs.evolve(ep, model=None, page_item=None),
                path,
                query=params,
                headers=headers,
            )
            caller = self._caller
            url = encode_path(ep.path, *path)
            if isinstance(decoded, list):
                # A bare array (how the spec documents a few lists): one page, no total.
                items = await caller.structure_async(
                    decoded, item_type, method=ep.method, path=url, large=False
                )
                return Page(list(items), None)
            page = await caller.structure_async(
                decoded, page_type, method=ep.method, path=url, large=False
            )
            assert isinstance(page, Page)
            return page

        return Paginator(fetch, start=start, count=count, limit=limit)


def _flatten(key: str, value: Any, out: list[tuple[str, str | FilePart]]) -> None:
    """Multipart fields the way PeerTube's body parser reads nested values back:
    ``tags[0]``, ``scheduleUpdate[privacy]``; bytes, paths and binary files at any depth
    become file parts."""
    if isinstance(value, (bytes, bytearray, memoryview, os.PathLike)) or hasattr(value, "read"):
        out.append((key, file_part(value, key.rpartition("[")[2].rstrip("]") or key)))
    elif isinstance(value, Mapping):
        for sub, item in value.items():
            _flatten(f"{key}[{sub}]", item, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(f"{key}[{i}]", item, out)
    elif value is not None:
        out.append((key, _text(value)))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)
