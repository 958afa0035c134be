"""The API facts the generator and the tests read, taken once from an upstream spec.

``python -m peertube_async.codegen snapshot --spec PATH`` reads an OpenAPI document of
PeerTube and writes :data:`FACTS` (``facts/openapi.json``): the same shape as the spec
(``paths``, ``components.schemas``, ``components.parameters``) so that references stay
valid, but facts only. Prose is dropped (descriptions, titles, tag texts, code samples,
servers); an operation keeps a one-line summary. A description that opens with
"PeerTube >= X" becomes ``x-since: "X"`` on its operation, parameter or property, which
is how version requirements reach the generated code.

Updating to a newer spec is this one command and a review of the diff of that file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["FACTS", "facts_from_spec", "load_facts", "write_facts"]

FACTS = Path(__file__).resolve().parent / "facts" / "openapi.json"

# Keys whose value maps free names (property names, paths, status codes, media types) to
# nodes: their keys are data, never prose to drop.
_NAME_MAPS = frozenset(
    {"properties", "paths", "schemas", "parameters", "responses", "content", "encoding", "mapping"}
)
# Prose and presentation: no fact the SDK uses lives there.
_DROPPED = frozenset(
    {
        "description",
        "title",
        "externalDocs",
        "x-codeSamples",
        "x-tagGroups",
        "x-summary",
        "examples",
        "xml",
        "servers",
        "securitySchemes",
        "headers",
    }
)
_SINCE_RE = re.compile(r"^\W*PeerTube\s*>=\s*v?(\d+)\.(\d+)")
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def _since(description: Any) -> str | None:
    """``"6.1"`` for a description opening with "**PeerTube >= 6.1** ..."."""
    if not isinstance(description, str):
        return None
    match = _SINCE_RE.match(description.strip())
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _plain(value: Any) -> Any:
    # Timestamps stay text when read with ``_loader``; a caller's own loader may not.
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def _prune(node: Any, *, names: bool = False, operation: bool = False) -> Any:
    """``node`` without prose; ``names``: its keys are free names (see ``_NAME_MAPS``)."""
    if isinstance(node, list):
        return [_prune(item) for item in node]
    if not isinstance(node, Mapping):
        return _plain(node)
    if names:
        return {str(key): _prune(value) for key, value in node.items()}
    out: dict[str, Any] = {}
    since = _since(node.get("description"))
    for key, value in node.items():
        key = str(key)
        if key in _DROPPED:
            continue
        if key == "summary":
            if operation and isinstance(value, str):
                out[key] = value.strip().split("\n", 1)[0].strip()
            continue
        if key == "tags" and operation:
            out[key] = [str(tag) for tag in value]
            continue
        if key == "example":
            out[key] = _plain_deep(value)
            continue
        out[key] = _prune(value, names=key in _NAME_MAPS)
    if since is not None:
        out["x-since"] = since
    return out


def _plain_deep(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_deep(v) for v in value]
    return _plain(value)


def facts_from_spec(raw: Mapping[str, Any], sha256: str) -> dict[str, Any]:
    """The facts of a parsed OpenAPI document (``sha256``: of the file it came from)."""
    components = raw.get("components") or {}
    info = raw.get("info") or {}
    return {
        "source": {"spec_version": str(info.get("version") or ""), "sha256": sha256},
        "openapi": str(raw.get("openapi") or ""),
        "paths": {
            str(path): {
                str(key): _prune(value, operation=str(key) in _METHODS)
                for key, value in (item or {}).items()
            }
            for path, item in (raw.get("paths") or {}).items()
        },
        "components": {
            "parameters": _prune(components.get("parameters") or {}, names=True),
            "schemas": _prune(components.get("schemas") or {}, names=True),
        },
    }


def dumps(facts: Mapping[str, Any]) -> str:
    """The file's text: one key per line, stable, so that a spec update reads as a diff."""
    return json.dumps(facts, indent=1, ensure_ascii=False) + "\n"


def write_facts(spec_path: Path, out: Path = FACTS) -> dict[str, Any]:
    """Read the spec at ``spec_path`` and write its facts to ``out``."""
    import yaml  # the generator's own dependency (dev extra); the package never needs it

    raw_bytes = spec_path.read_bytes()
    facts = facts_from_spec(yaml.load(raw_bytes, Loader=_loader(yaml)), _sha256(raw_bytes))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(facts), encoding="utf-8")
    return facts


def _loader(yaml: Any) -> Any:
    """A safe YAML loader that keeps timestamps as the text the spec wrote."""
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return Loader


def load_facts(path: Path = FACTS) -> dict[str, Any]:
    """The checked-in facts (what the generator and the tests read)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
