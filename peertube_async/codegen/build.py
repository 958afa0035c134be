"""From the facts and the overrides to an intermediate form: classes, enums, methods.

Fails closed: an unmapped or duplicate operation, a name clash, a patch that no longer
applies, an integer enum that names no PeerTube constant, or a schema construct it does
not know raises :class:`SpecError`.

Where the facts come from:

* the spec's facts (``facts/openapi.json``): operations, parameters, schemas, and the
  "PeerTube >= X" notes (``x-since``);
* PeerTube's TypeScript models (``facts/peertube-types.json``): a field every supported
  release always sends, never null, is typed without ``| None``; constants name the
  members of integer enums;
* the overrides file: names, limiter classes, and every place where the real server
  differs from both (each with its reason).
"""

from __future__ import annotations

import copy
import keyword
import re
from collections.abc import Mapping
from typing import Any

import attrs

from .spec import Operation, Param, Spec, SpecError, pascal, snake
from .typefacts import SUPPORTED_FROM, TypeFacts, release_key

JSON_TYPES = ("application/json", "application/problem+json")
PAGE_PARAMS = ("start", "count")
#: How a method's answer is read: decoded JSON, nothing, bytes (or a file), or text.
RESPONSE_KINDS = ("json", "none", "binary", "text")


@attrs.define
class FieldDef:
    name: str
    wire: str
    type: str
    required: bool
    doc: str = ""
    since: str | None = None


@attrs.define
class ClassDef:
    name: str
    doc: str
    fields: list[FieldDef] = attrs.Factory(list)
    #: The TypeScript model it was checked against (None: no facts, every field optional).
    ts: str | None = None


@attrs.define
class EnumDef:
    name: str
    doc: str
    #: (member name, value) pairs.
    members: list[tuple[str, str | int]]
    kind: str = "str"  # str, int, flag


@attrs.define
class Arg:
    name: str
    wire: str
    type: str
    required: bool
    doc: str = ""
    is_file: bool = False
    since: str | None = None


@attrs.define
class MethodDef:
    resource: str
    name: str
    op: Operation
    path_args: list[Arg]
    query_args: list[Arg]
    header_args: list[Arg]
    body_kind: str | None
    body_args: list[Arg]
    returns: str
    response_kind: str  # see RESPONSE_KINDS
    page_item: str | None
    limiter: tuple[str, ...] | None
    doc: str
    #: Oldest PeerTube release that has the operation (None: every supported one).
    since: str | None = None
    #: The type decoded when the answer has a body (``returns`` may add ``| None``).
    model: str | None = None


def dict_of(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"expected a schema object, got {type(value).__name__}")
    return value


def first_line(value: Any, limit: int = 200) -> str:
    """The first line of a text, cut at a word boundary when longer than ``limit``."""
    text = str(value or "").strip()
    line = text.split("\n", 1)[0].strip()
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _clean_doc(value: Any) -> str:
    text = str(value or "").strip().replace("\r", "")
    return text.replace('"""', "'''").replace("\\", "\\\\")


def member_name(value: str | int, taken: set[str]) -> str:
    """A readable enum member name: ``publishedAt`` → ``PUBLISHED_AT``, ``-duration`` →
    ``DESC_DURATION``, ``web-video`` → ``WEB_VIDEO``."""
    text = str(value)
    prefix = ""
    if text.startswith("-") and len(text) > 1:
        prefix, text = "DESC_", text[1:]
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    name = prefix + (re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").upper() or "EMPTY")
    if name[0].isdigit():
        name = "V_" + name
    if keyword.iskeyword(name.lower()) and name.lower() == name:
        name += "_"
    base, n = name, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


@attrs.define
class Where:
    """Where a schema sits: its spec path (``Video.state``) and its TypeScript model."""

    path: str
    ts: str | None = None

    def child(self, wire: str, ts: str | None) -> Where:
        return Where(f"{self.path}.{wire}", ts)


class TypeBuilder:
    """Turns schemas into type expressions, registering the classes and enums needed."""

    def __init__(self, spec: Spec, overrides: Mapping[str, Any], facts: TypeFacts) -> None:
        self.spec = spec
        self.facts = facts
        self.classes: dict[str, ClassDef] = {}
        self.enums: dict[str, EnumDef] = {}
        self._named: dict[str, str] = {}
        self._building: set[str] = set()
        #: Enums by where they were defined (a named schema, a parameter, a property).
        self._enum_by_key: dict[str, str] = {}
        self.schemas = copy.deepcopy(spec.schemas)
        for name, patch in (overrides.get("schemas") or {}).items():
            if not str(patch.get("reason") or "").strip():
                raise SpecError(f"schema patch for {name!r} needs a reason")
            self._apply_patch(name, patch)
        self.ts_models: dict[str, str | None] = dict(overrides.get("models") or {})
        for schema, model in self.ts_models.items():
            if schema not in self.schemas:
                raise SpecError(f"models: no schema {schema!r} in the spec")
            if model is not None and not facts.has_model(model):
                raise SpecError(f"models: no TypeScript model {model!r} (for {schema})")
        self.nullable: dict[str, str] = {}
        for key, reason in (overrides.get("nullable") or {}).items():
            if not str(reason or "").strip():
                raise SpecError(f"nullable {key!r} needs a reason")
            self.nullable[key] = str(reason)
        self.used_nullable: set[str] = set()
        self.constants: dict[str, dict[str, Any]] = {}
        for key, entry in (overrides.get("constants") or {}).items():
            spec_entry = {"constant": entry} if isinstance(entry, str) else dict(entry)
            facts.members(spec_entry["constant"])  # fails for an unknown constant
            self.constants[key] = spec_entry
        #: Constant enums take their PeerTube names; no class may take one first.
        self._constant_names = {str(e["constant"]) for e in self.constants.values()}
        self.plain_integers: dict[str, str] = {
            str(k): str(v) for k, v in (overrides.get("plain_integers") or {}).items()
        }
        self.used_locations: set[str] = set()

    # -- patches ------------------------------------------------------------------------

    def _locate(self, name: str) -> dict[str, Any]:
        """The schema a patch names: ``Schema`` or ``Schema.property.property``."""
        root, *props = name.split(".")
        if root not in self.schemas:
            raise SpecError(f"schema patch for {name!r}: no schema {root!r} in the spec")
        target: Any = self.schemas[root]
        for prop in props:
            found = None
            for holder in [target, *(target.get("allOf") or [])]:
                if "$ref" in holder:
                    continue
                found = (holder.get("properties") or {}).get(prop, found)
            if not isinstance(found, dict):
                raise SpecError(f"schema patch for {name!r}: no inline property {prop!r}")
            if "$ref" in found:
                raise SpecError(f"schema patch for {name!r}: {prop!r} is a reference; patch that")
            if found.get("type") == "array" and isinstance(found.get("items"), dict):
                found = found["items"]
            target = found
        return dict_of(target)

    def _apply_patch(self, name: str, patch: Mapping[str, Any]) -> None:
        target = self._locate(name)
        if "replace" in patch:
            target.clear()
            target.update(copy.deepcopy(patch["replace"]))
            return
        holder = target
        if "allOf" in target:
            holder = {"type": "object", "properties": {}}
            target["allOf"].append(holder)
        props = holder.setdefault("properties", {})
        for prop, schema in (patch.get("add_properties") or {}).items():
            if prop in self._all_props(target):
                raise SpecError(f"schema patch {name}.{prop}: the spec has it now; drop it")
            props[prop] = copy.deepcopy(schema)
        for prop, schema in (patch.get("set_properties") or {}).items():
            if prop not in self._all_props(target):
                raise SpecError(f"schema patch {name}.{prop}: no such property to change")
            props[prop] = copy.deepcopy(schema)
        for prop in patch.get("remove_properties") or ():
            if prop not in props:
                raise SpecError(f"schema patch {name}.{prop}: no such property to remove")
            del props[prop]

    def _all_props(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        return self._merge(schema)[0]

    # -- resolution ---------------------------------------------------------------------

    def deref(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while "$ref" in schema:
            ref = schema["$ref"]
            name = Spec.schema_name(ref)
            schema = self.schemas[name] if name is not None else self.spec.pointer(ref)
            seen += 1
            if seen > 50:
                raise SpecError(f"reference loop at {ref}")
        return schema

    def _merge(self, schema: Mapping[str, Any]) -> tuple[dict[str, Any], set[str], str]:
        """Properties, required names and description of an object schema, allOf merged."""
        schema = self.deref(schema)
        props: dict[str, Any] = {}
        required: set[str] = set()
        doc = str(schema.get("description") or "")
        for part in schema.get("allOf") or []:
            p, r, d = self._merge(part)
            props.update(p)
            required |= r
            doc = doc or d
        props.update(schema.get("properties") or {})
        required |= set(schema.get("required") or [])
        return props, required, doc

    def _is_object(self, schema: Mapping[str, Any]) -> bool:
        schema = self.deref(schema)
        if schema.get("properties"):
            return True
        parts = schema.get("allOf") or []
        return len(parts) > 1 or any(self._is_object(p) for p in parts)

    def _since(self, schema: Mapping[str, Any]) -> str | None:
        since = schema.get("x-since")
        if since is None and "$ref" not in schema:
            for part in schema.get("allOf") or []:
                since = since or self._since(part)
        return str(since) if since is not None else None

    # -- types --------------------------------------------------------------------------

    def type_of(
        self,
        schema: Mapping[str, Any],
        hint: str,
        *,
        request: bool = False,
        where: Where | None = None,
    ) -> str:
        """A Python type expression for ``schema`` (``None`` not included).

        In requests, arrays are any sequence, binaries are file inputs, a model may also
        be given as a plain mapping, and an enum as its plain value.
        """
        result = self._type_of(schema, hint, request=request, where=where or Where(hint))
        if request and result in self.classes:
            return f"{result} | Mapping[str, Any]"
        if request and result in self.enums:
            # Callers write plain values (sort="-publishedAt", privacy=1) as often as members.
            plain = "str" if self.enums[result].kind == "str" else "int"
            return f"{result} | {plain}"
        return result

    def _type_of(self, schema: Mapping[str, Any], hint: str, *, request: bool, where: Where) -> str:
        location = where.path
        if location in self.constants and schema.get("type") != "array":
            return self._constant(location)
        if "$ref" in schema:
            ref = schema["$ref"]
            name = Spec.schema_name(ref)
            if name is None:
                # A pointer into a schema (``#/components/schemas/X/properties/id``) sits
                # where that property sits.
                inner = where
                prefix = "#/components/schemas/"
                if ref.startswith(prefix):
                    steps = [p for p in ref[len(prefix) :].split("/") if p != "properties"]
                    inner = Where(".".join(steps))
                return self.type_of(self.spec.pointer(ref), hint, request=request, where=inner)
            return self._named_type(name, request=request)
        parts = schema.get("allOf")
        if parts:
            typed = [p for p in parts if self._has_shape(p)]
            if len(typed) == 1 and not schema.get("properties"):
                return self.type_of(typed[0], hint, request=request, where=where)
            return self._class(hint, schema, where=where)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self._union(schema[key], hint, request=request, where=where)
        if "enum" in schema:
            return self._enum(schema, hint, where)
        kind = schema.get("type")
        if kind == "array":
            item = self.type_of(
                schema.get("items") or {}, hint + "Item", request=request, where=where
            )
            return f"tuple[{item}, ...]" if not request else f"Sequence[{item}]"
        if kind == "object" or schema.get("properties"):
            if schema.get("properties"):
                return self._class(hint, schema, where=where)
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping) and self._has_shape(extra):
                value = self.type_of(extra, hint + "Value", request=request, where=where)
                return f"dict[str, {value}]"
            return "dict[str, Any]"
        if kind == "string":
            fmt = schema.get("format")
            if fmt == "date-time":
                return "datetime"
            if fmt == "binary":
                return "FileInput" if request else "bytes"
            return "str"
        if kind == "integer":
            return "int"
        if kind == "number":
            return "float"
        if kind == "boolean":
            return "bool"
        if kind is None:
            return "Any"
        raise SpecError(f"unknown schema type {kind!r} at {hint}")

    @staticmethod
    def _has_shape(schema: Mapping[str, Any]) -> bool:
        shape = {"$ref", "type", "properties", "allOf", "oneOf", "anyOf", "enum", "items"}
        return bool(shape & set(schema))

    def ts_model_of(self, name: str) -> str | None:
        """The TypeScript model of a named schema: the overrides' mapping, else the
        model of the same name when PeerTube's types have one."""
        if name in self.ts_models:
            return self.ts_models[name]
        return name if self.facts.has_model(name) else None

    def _named_type(self, name: str, *, request: bool) -> str:
        key = f"{name}|{request}"
        if key in self._named:
            return self._named[key]
        schema = self.schemas[name]
        where = Where(name, self.ts_model_of(name))
        if name in self.constants:
            result = self._constant(name)
        elif self._is_object(schema):
            result = pascal(name)
            self._named[key] = result
            self._class(result, schema, exact=True, where=where)
            return result
        else:
            result = self.type_of(schema, pascal(name), request=request, where=where)
        self._named[key] = result
        return result

    def _union(self, options: list[Any], hint: str, *, request: bool, where: Where) -> str:
        if all(self._is_object(o) for o in options):
            # PeerTube's object unions are "X or X with more fields": use the widest.
            merged = [set(self._merge(o)[0]) for o in options]
            widest = max(range(len(options)), key=lambda i: len(merged[i]))
            if all(m <= merged[widest] for m in merged):
                return self.type_of(options[widest], hint, request=request, where=where)
            return "dict[str, Any]"
        types: list[str] = []
        for i, option in enumerate(options):
            if self._is_object(option):
                return "Any"
            t = self.type_of(option, f"{hint}{i}", request=request, where=where)
            if t not in types:
                types.append(t)
        return " | ".join(types)

    def _constant(self, location: str) -> str:
        """The integer enum of a PeerTube constant, for a location the overrides map."""
        self.used_locations.add(location)
        entry = self.constants[location]
        name = str(entry["constant"])
        if name not in self.enums:
            members = self.facts.members(name)
            taken: set[str] = set()
            pairs = [(member_name(k, taken), v) for k, v in members.items()]
            pairs.sort(key=lambda kv: (kv[1], kv[0]))
            kind = "flag" if entry.get("flags") else "int"
            if any(not isinstance(v, int) for _, v in pairs):
                raise SpecError(f"constants: {name} is not an integer constant")
            doc = f"PeerTube's ``{name}`` constant; values it does not list are kept."
            self.enums[name] = EnumDef(name, doc, pairs, kind)
        return name

    def _enum(self, schema: Mapping[str, Any], hint: str, where: Where) -> str:
        values = [v for v in schema["enum"] if v is not None]
        kind = schema.get("type")
        location = where.path
        if kind == "integer" or all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            if location in self.plain_integers:
                self.used_locations.add(location)
                return "int"
            raise SpecError(
                f"integer enum at {location} ({values}) names no PeerTube constant: map it "
                "in `constants` of the overrides file, or list it in `plain_integers`"
            )
        if kind == "boolean":
            return "bool"
        if kind == "number":
            return "float"
        strings = [str(v) for v in values]
        if sorted(strings) == ["false", "true"]:
            # A boolean written as text on the wire (``skipCount=true``).
            return "bool"
        found = self._enum_by_key.get(location)
        if found is not None:
            return found
        name = self._unique(hint)
        taken: set[str] = set()
        members: list[tuple[str, str | int]] = [(member_name(v, taken), v) for v in strings]
        self.enums[name] = EnumDef(name, first_line(schema.get("description")), members)
        self._enum_by_key[location] = name
        return name

    def _unique(self, name: str) -> str:
        base = name
        n = 2
        reserved = self._constant_names
        while (
            name in self.classes or name in self.enums or name in self._building or name in reserved
        ):
            name = f"{base}{n}"
            n += 1
        return name

    def _class(
        self,
        hint: str,
        schema: Mapping[str, Any],
        *,
        exact: bool = False,
        where: Where,
    ) -> str:
        name = hint if exact else self._unique(hint)
        if name in self.classes or name in self._building:
            return name
        if name in self._constant_names:
            raise SpecError(f"schema {name} has the name of a PeerTube constant")
        self._building.add(name)
        props, _, doc = self._merge(schema)
        ts = where.ts
        cls = ClassDef(name, _clean_doc(doc), ts=ts)
        seen: set[str] = set()
        for wire, prop in props.items():
            if not isinstance(prop, Mapping):
                raise SpecError(f"property {name}.{wire} is not a schema")
            attr = snake(wire)
            if attr in seen:
                raise SpecError(f"two properties of {name} map to {attr!r}")
            seen.add(attr)
            child = where.child(wire, self.facts.child(ts, wire))
            ptype = self.type_of(prop, name + pascal(wire), where=child)
            since = self._since(prop) or self._since(self.deref(prop))
            required = (
                ts is not None
                and self.facts.always_sent(ts, wire)
                # The spec knows the field may be null, or that older releases lack it.
                and not self.deref(prop).get("nullable")
                and not prop.get("nullable")
                and (since is None or release_key(since) <= release_key(SUPPORTED_FROM))
            )
            if required and child.path in self.nullable:
                self.used_nullable.add(child.path)
                required = False
            cls.fields.append(
                FieldDef(
                    attr,
                    wire,
                    ptype,
                    required,
                    first_line(self.deref(prop).get("description") or prop.get("description")),
                    since,
                )
            )
        self._building.discard(name)
        self.classes[name] = cls
        return name

    def check_used(self) -> None:
        """Fail on overrides entries that no longer apply (a stale entry hides drift)."""
        stale = sorted(set(self.nullable) - self.used_nullable)
        if stale:
            raise SpecError(f"nullable entries for fields not typed as always sent: {stale}")
        mapped = set(self.constants) | set(self.plain_integers)
        stale = sorted(mapped - self.used_locations)
        if stale:
            raise SpecError(f"constants/plain_integers entries that match nothing: {stale}")


class Builder:
    """Operations → methods, with the overrides applied."""

    def __init__(self, spec: Spec, overrides: Mapping[str, Any], facts: TypeFacts) -> None:
        self.spec = spec
        self.overrides = overrides
        self.types = TypeBuilder(spec, overrides, facts)
        self.resources: dict[str, str] = dict(overrides.get("resources") or {})
        self.methods: list[MethodDef] = []
        self._request_patches: dict[str, Any] = dict(overrides.get("requests") or {})
        for key, patch in self._request_patches.items():
            if not str(patch.get("reason") or "").strip():
                raise SpecError(f"request patch for {key!r} needs a reason")
            if "schema" not in patch and "content_type" not in patch:
                raise SpecError(f"request patch for {key!r} changes nothing")

    def build(self) -> None:
        names: dict[str, str] = {}
        mapping = dict(self.overrides.get("operations") or {})
        responses = dict(self.overrides.get("responses") or {})
        for key, patch in responses.items():
            if not str(patch.get("reason") or "").strip():
                raise SpecError(f"response patch for {key!r} needs a reason")
            if patch.get("kind", "json") not in RESPONSE_KINDS:
                raise SpecError(f"response patch for {key!r}: unknown kind {patch['kind']!r}")
        seen_ops: set[str] = set()
        for op in self.spec.operations():
            if op.key in seen_ops:
                raise SpecError(f"operation {op.key} appears twice in the spec")
            seen_ops.add(op.key)
            entry = mapping.pop(op.key, None)
            if entry is None:
                raise SpecError(f"operation {op.key} has no name in the overrides file")
            if isinstance(entry, str):
                entry = {"name": entry}
            full = str(entry["name"])
            if full in names:
                raise SpecError(f"{full!r} names both {names[full]} and {op.key}")
            names[full] = op.key
            resource, _, method = full.rpartition(".")
            if not resource or resource.count(".") > 1:
                raise SpecError(f"{op.key}: {full!r} must be resource[.sub].method")
            if resource not in self.resources:
                raise SpecError(f"{op.key}: resource {resource!r} is not declared")
            if not method.isidentifier() or keyword.iskeyword(method):
                raise SpecError(f"{op.key}: {method!r} is not a method name")
            limiter = entry.get("limiter")
            if "method" in entry:
                if not str(entry.get("reason") or "").strip():
                    raise SpecError(f"{op.key}: a method override needs a reason")
                op = attrs.evolve(op, method=str(entry["method"]).upper())
                op.raw = {**op.raw, "x-method-reason": entry["reason"]}
            since = op.raw.get("x-since")
            if "since" in entry:
                if not str(entry.get("since_reason") or "").strip():
                    raise SpecError(f"{op.key}: a `since` needs a `since_reason`")
                if since is not None:
                    raise SpecError(f"{op.key}: the spec says since {since} now; drop `since`")
                since = entry["since"]
            built = self._method(
                op,
                resource,
                method,
                tuple(limiter) if limiter is not None else None,
                responses.pop(op.key, None),
            )
            built.since = str(since) if since is not None else None
            self.methods.append(built)
        if mapping:
            raise SpecError(f"overrides name operations the spec lacks: {sorted(mapping)}")
        if responses:
            raise SpecError(f"response patches for operations the spec lacks: {sorted(responses)}")
        if self._request_patches:
            stale = sorted(self._request_patches)
            raise SpecError(f"request patches that no longer apply: {stale}")
        for res in self.resources:
            parent, _, child = res.rpartition(".")
            if parent and parent not in self.resources:
                raise SpecError(f"sub-resource {res!r} has no parent resource")
            if parent and f"{parent}.{child}" in names:
                raise SpecError(f"{res!r} clashes with a method of the same name")
        self.types.check_used()

    # -- one operation ------------------------------------------------------------------

    def _response(self, op: Operation, patch: Mapping[str, Any] | None) -> tuple[Any, str]:
        if patch is not None and ("schema" in patch or "kind" in patch):
            kind = str(patch.get("kind", "json"))
            return (patch.get("schema") if kind == "json" else None), kind
        responses = op.raw.get("responses") or {}
        codes = sorted(c for c in responses if str(c).startswith("2"))
        for code in codes:
            content = (responses[code] or {}).get("content") or {}
            for ctype, body in content.items():
                schema = (body or {}).get("schema")
                if ctype in JSON_TYPES or ctype.endswith("+json"):
                    return schema or {}, "json"
                if ctype.startswith("text/") or ctype.endswith("xml"):
                    return None, "text"
                return None, "binary"
        return None, "none"

    def _method(
        self,
        op: Operation,
        resource: str,
        name: str,
        limiter: tuple[str, ...] | None,
        patch: Mapping[str, Any] | None,
    ) -> MethodDef:
        hint = pascal(resource.replace(".", "_")) + pascal(name)
        tb = self.types
        path_args: list[Arg] = []
        query_args: list[Arg] = []
        header_args: list[Arg] = []
        taken: set[str] = set()
        placeholders = re.findall(r"{([^}]+)}", op.path)
        by_name = {p.name: p for p in op.params if p.location == "path"}
        for ph in placeholders:
            param = by_name.get(ph) or Param(ph, "path", {"type": "string"}, True)
            path_args.append(self._arg(param, hint, taken, path=True))
        for param in op.params:
            if param.location == "query":
                query_args.append(self._arg(param, hint, taken))
            elif param.location == "header":
                header_args.append(self._arg(param, hint, taken))

        body_kind, body_args = self._body(op, hint, taken)
        schema, kind = self._response(op, patch)
        page_item: str | None = None
        model: str | None = None
        returns = "None"
        if kind == "json":
            paginated = patch.get("paginated") if patch else None
            item_schema = self._page_item(schema) if paginated is not False else None
            wants_pages = all(any(a.wire == p for a in query_args) for p in PAGE_PARAMS)
            if paginated and item_schema is None:
                raise SpecError(f"{op.key}: paginated patch but no data array in the response")
            if item_schema is not None and (wants_pages or paginated):
                page_item = tb.type_of(item_schema, hint + "Item")
                returns = f"Paginator[{page_item}]"
                query_args = [a for a in query_args if a.wire not in PAGE_PARAMS]
            else:
                model = tb.type_of(schema, hint + "Response") if schema else "Any"
                returns = model
                if op.method != "GET" and model != "Any":
                    # A write's answer may be empty (204) on some releases: the write
                    # still happened, so the method returns None instead of failing.
                    returns = f"{model} | None"
        elif kind == "binary":
            returns = "bytes"
        elif kind == "text":
            returns = "str"
        doc_parts = [op.summary or name.replace("_", " ").capitalize()]
        if op.description and op.description != op.summary:
            doc_parts.append(_clean_doc(op.description))
        if patch is not None:
            doc_parts.append(f"Note: {_clean_doc(patch['reason'])}")
        if "x-method-reason" in op.raw:
            doc_parts.append(f"Note: sent as {op.method}: {_clean_doc(op.raw['x-method-reason'])}")
        return MethodDef(
            resource=resource,
            name=name,
            op=op,
            path_args=path_args,
            query_args=query_args,
            header_args=header_args,
            body_kind=body_kind,
            body_args=body_args,
            returns=returns,
            response_kind=kind,
            page_item=page_item,
            limiter=limiter,
            doc="\n\n".join(_clean_doc(p) for p in doc_parts if p),
            model=model,
        )

    def _page_item(self, schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if not schema:
            return None
        props = self.types._merge(schema)[0] if self.types._is_object(schema) else {}
        data = props.get("data")
        if data is None:
            return None
        data = self.types.deref(data)
        if data.get("type") != "array":
            return None
        items = data.get("items")
        return items if isinstance(items, Mapping) else None

    def _arg(self, param: Param, hint: str, taken: set[str], *, path: bool = False) -> Arg:
        name = snake(param.name)
        if name in taken:
            name = f"{name}_{param.location}"
        taken.add(name)
        # A shared parameter of the spec keeps one type wherever it is used; an inline
        # one belongs to its operation alone.
        where = Where(f"param:{param.ref}" if param.ref else f"{hint}.{param.name}")
        type_hint = pascal(param.ref) if param.ref else hint + pascal(param.name)
        ptype = self.types.type_of(param.schema, type_hint, request=True, where=where)
        if path and ptype not in ("int", "str"):
            ptype = "int | str" if "int" in ptype else "str"
        return Arg(
            name,
            param.name,
            ptype,
            param.required,
            first_line(param.description),
            since=param.since,
        )

    def _body(self, op: Operation, hint: str, taken: set[str]) -> tuple[str | None, list[Arg]]:
        body = op.raw.get("requestBody")
        if not body:
            return None, []
        content = body.get("content") or {}
        if len(content) != 1:
            raise SpecError(f"{op.key}: expected one request content type, got {list(content)}")
        ctype, media = next(iter(content.items()))
        schema = (media or {}).get("schema") or {}
        patch = self._request_patches.pop(op.key, None)
        if patch is not None:
            schema = patch.get("schema", schema)
            ctype = patch.get("content_type", ctype)
        kinds = {
            "application/json": "json",
            "multipart/form-data": "multipart",
            "application/x-www-form-urlencoded": "form",
            "application/octet-stream": "octet",
        }
        if ctype not in kinds:
            raise SpecError(f"{op.key}: unsupported request content type {ctype!r}")
        kind = kinds[ctype]
        if kind == "octet":
            taken.add("content")
            return kind, [Arg("content", "content", "bytes", True, "The bytes to send.")]
        tb = self.types
        options = schema.get("oneOf") or schema.get("anyOf")
        props: dict[str, Any] = {}
        required: set[str] = set()
        if isinstance(options, list):
            # Alternatives (e.g. by npm name or by path): every field optional.
            for option in options:
                props.update(tb._merge(option)[0])
        else:
            resolved = tb.deref(schema)
            if not tb._is_object(schema) and resolved.get("type") != "object":
                raise SpecError(f"{op.key}: request body is not an object")
            props, required, _ = tb._merge(schema)
        base = Spec.schema_name(schema.get("$ref", "")) if "$ref" in schema else None
        args: list[Arg] = []
        for wire, prop in props.items():
            name = snake(wire)
            if name in taken:
                name = f"{name}_body"
            taken.add(name)
            where = Where(f"{base}.{wire}" if base else f"{hint}.body.{wire}")
            ptype = tb.type_of(prop, hint + pascal(wire), request=True, where=where)
            is_file = "FileInput" in ptype
            args.append(
                Arg(
                    name,
                    wire,
                    ptype,
                    wire in required,
                    first_line(tb.deref(prop).get("description") or prop.get("description")),
                    is_file,
                    since=tb._since(prop),
                )
            )
        return kind, args
