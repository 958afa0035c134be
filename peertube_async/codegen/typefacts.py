"""What the generator reads from ``facts/peertube-types.json`` (see :mod:`.tsfacts`).

PeerTube's own TypeScript models say, release by release, which keys a model always
carries and which may be null; they also name every numeric constant. Here those facts
answer three questions: is a field always sent by every supported release, which model
of the TypeScript side describes a nested object, and what are a constant's members.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .spec import SpecError

__all__ = ["SUPPORTED_FROM", "TYPE_FACTS", "TypeFacts", "release_key"]

TYPE_FACTS = Path(__file__).resolve().parent / "facts" / "peertube-types.json"
#: The oldest release whose answers the generated types promise to describe.
SUPPORTED_FROM = "5.1.0"

_NAME_RE = re.compile(r"^[A-Za-z_][\w.]*$")


def release_key(version: str) -> tuple[int, ...]:
    """``(6, 1)`` for ``"6.1"``: releases compare as tuples."""
    return tuple(int(p) for p in re.findall(r"\d+", version))


class TypeFacts:
    """Lookups over the snapshot of PeerTube's TypeScript models."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.versions: list[str] = list(data.get("versions") or [])
        self.models: dict[str, Any] = dict(data.get("models") or {})
        self.constants: dict[str, Any] = dict(data.get("constants") or {})
        self.aliases: dict[str, str] = dict(data.get("aliases") or {})
        floor = release_key(SUPPORTED_FROM)
        self._supported = [i for i, v in enumerate(self.versions) if release_key(v) >= floor]
        if not self._supported:
            raise SpecError("the TypeScript facts hold no supported PeerTube release")

    @classmethod
    def load(cls, path: Path = TYPE_FACTS) -> TypeFacts:
        """The checked-in snapshot."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def has_model(self, name: str) -> bool:
        """Whether some release declares ``name``."""
        return name in self.models

    def _releases_with(self, model: str) -> list[int]:
        fields = self.models[model]["fields"].values()
        return [i for i in self._supported if any(flags[i] != "-" for flags in fields)]

    def always_sent(self, model: str, wire: str) -> bool:
        """Present and never null in every supported release that has ``model``."""
        if model not in self.models:
            return False
        flags = self.models[model]["fields"].get(wire)
        having = self._releases_with(model)
        return bool(flags) and bool(having) and all(flags[i] == "R" for i in having)

    def declares(self, model: str, wire: str) -> bool:
        """Whether some release declares the field."""
        return model in self.models and wire in self.models[model]["fields"]

    def child(self, model: str | None, wire: str) -> str | None:
        """The model describing the object (or array items) at ``model.wire``."""
        if model is None or model not in self.models:
            return None
        inline = f"{model}.{wire}"
        if inline in self.models:
            return inline
        text = self.models[model].get("types", {}).get(wire)
        if not isinstance(text, str):
            return None
        names = [
            part.strip().removesuffix("[]").strip("()")
            for part in text.split("|")
            if part.strip() not in ("null", "undefined")
        ]
        found = [n for n in names if _NAME_RE.match(n) and n in self.models]
        return found[0] if len(found) == 1 else None

    def members(self, constant: str) -> dict[str, int | str]:
        """A constant's members with a known value (newest release's values)."""
        entry = self.constants.get(constant)
        if entry is None:
            raise SpecError(f"no constant {constant!r} in the TypeScript facts")
        return {k: v for k, v in entry["members"].items() if v is not None}
