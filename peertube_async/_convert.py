"""Converting between PeerTube's JSON and attrs models.

`make_converter` builds the one cattrs converter the SDK uses. Its rules:

Wire names
    Attributes are snake_case. When the JSON key differs from the attribute name, the field
    carries it in its attrs metadata under :data:`WIRE`::

        short_uuid: str = attrs.field(metadata={WIRE: "shortUUID"})
        invalid_params: dict[str, InvalidParam] | None = attrs.field(
            default=None, metadata={WIRE: "invalid-params"}
        )

    A field without that key uses its own name on the wire (``id``, ``client_secret``).
    Structuring and unstructuring both honour it, and any string works, including names
    that are not Python identifiers.

Tolerance
    By default unknown keys are ignored and fields that have a default may be missing, so
    payloads from older and newer servers decode. ``strict=True`` rejects unknown keys,
    which is how tests check that a model covers a sample completely.

Datetimes
    ISO 8601 strings (``2026-11-26T17:11:39.065Z``) become timezone-aware UTC datetimes and
    are written back as ISO strings ending in ``Z``. A naive datetime is taken to be UTC.

Open enums
    :class:`OpenStrEnum` and :class:`OpenIntEnum` accept values they do not list: the
    result is a pseudo-member holding the value, with ``known`` False, so a newer server's
    values decode instead of failing.

Hooks are generated once per class and cached by cattrs; decoding does no reflection.
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = ["WIRE", "OpenIntEnum", "OpenStrEnum", "make_converter"]

WIRE = "wire"
"""The attrs metadata key that holds a field's JSON name."""

_E = TypeVar("_E", bound=enum.Enum)


class _OpenEnum:
    """What open enums share: pseudo-members for unlisted values behave like the value."""

    _name_: str
    _value_: Any

    @property
    def known(self) -> bool:
        """Whether this value is one the SDK lists (False for a pseudo-member)."""
        return type(self)._value2member_map_.get(self._value_) is self  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        # Hash like the plain value so that members and values are interchangeable keys.
        return hash(self._value_)

    def __str__(self) -> str:
        return str(self._value_)

    def __format__(self, format_spec: str) -> str:
        return format(self._value_, format_spec)

    def __repr__(self) -> str:
        if self.known:
            return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"
        return f"<{type(self).__name__} unknown: {self._value_!r}>"


class OpenStrEnum(_OpenEnum, str, enum.Enum):
    """A string enum that also accepts values it does not list.

    ``Cls("unlisted")`` returns a pseudo-member (not cached, not iterated) whose ``value`` is
    the given string and whose :attr:`known` is False. Members compare and hash like their
    string value, and ``str()`` gives the value.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member


class OpenIntEnum(_OpenEnum, int, enum.Enum):
    """An integer enum that also accepts values it does not list (see :class:`OpenStrEnum`)."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = str(value)
        member._value_ = value
        return member


# Fractions of any length and an optional offset; used only when fromisoformat refuses a
# string (Python 3.10 accepts neither "Z" nor fractions other than 3 or 6 digits).
_ISO_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?"
    r"\s*(Z|z|[+-]\d\d:?\d\d)?"
)


def _parse_datetime(value: Any, _: Any = None) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = _parse_datetime_slow(value)
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    if parsed.tzinfo is timezone.utc:
        return parsed
    return parsed.astimezone(timezone.utc)


def _parse_datetime_slow(value: str) -> datetime:
    match = _ISO_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 datetime: {value!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        micro,
        tzinfo=tz,
    )


def _format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    else:
        value = value.astimezone(timezone.utc)
    # PeerTube writes milliseconds; keep microseconds only when they carry information.
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _is_attrs(cls: Any) -> bool:
    return attrs.has(get_origin(cls) or cls)


def _structure_open_enum(value: Any, cls: type[_E]) -> _E:
    return cls(value)


def _unstructure_enum(value: enum.Enum) -> Any:
    return value._value_


_PRIMITIVES = (str, int, float, bool)


def _optional_inner(cls: Any) -> Any:
    """``X`` for ``X | None`` (``Optional[X]``), else None."""
    if get_origin(cls) not in (Union, types.UnionType):
        return None
    args = get_args(cls)
    if len(args) != 2 or type(None) not in args:
        return None
    return args[0] if args[1] is type(None) else args[1]


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _wire_overrides(cls: Any) -> dict[str, Any]:
    fields = attrs.fields(get_origin(cls) or cls)
    return {f.name: override(rename=f.metadata[WIRE]) for f in fields if WIRE in f.metadata}


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """Return a converter for PeerTube payloads (see the module docstring for its rules).

    ``strict=True`` makes unknown keys an error; the default ignores them.
    """
    converter = cattrs.Converter()

    def structure_factory(cls: Any) -> Callable[[Mapping[str, Any], Any], Any]:
        # Envelopes of the SDK's own (pages) may carry extras such as a comment count.
        envelope = getattr(get_origin(cls) or cls, "__peertube_envelope__", False)
        return make_dict_structure_fn(
            cls,
            converter,
            _cattrs_forbid_extra_keys=strict and not envelope,
            **_wire_overrides(cls),
        )

    def unstructure_factory(cls: Any) -> Callable[[Any], dict[str, Any]]:
        return make_dict_unstructure_fn(cls, converter, **_wire_overrides(cls))

    # cattrs' own Optional and tuple[X, ...] hooks look the inner hook up on every call;
    # these resolve it once per type.
    def optional_factory(cls: Any) -> Callable[[Any, Any], Any]:
        inner = _optional_inner(cls)
        hook = converter.get_structure_hook(inner)
        if inner in _PRIMITIVES and hook == converter._structure_call:
            # cattrs' default for a primitive is calling the type; skip the extra frame.
            def structure_primitive(value: Any, _: Any) -> Any:
                return None if value is None else inner(value)

            return structure_primitive

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        return structure_optional

    def tuple_factory(cls: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        item = get_args(cls)[0]
        hook = converter.get_structure_hook(item)

        def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
            if isinstance(value, (str, bytes, Mapping)):
                raise TypeError(f"expected a JSON array, got {type(value).__name__}")
            return tuple([hook(v, item) for v in value])

        return structure_tuple

    converter.register_structure_hook_factory(_is_attrs, structure_factory)
    converter.register_structure_hook_factory(
        lambda cls: _optional_inner(cls) is not None, optional_factory
    )
    converter.register_structure_hook_factory(_is_homogeneous_tuple, tuple_factory)
    converter.register_unstructure_hook_factory(_is_attrs, unstructure_factory)
    converter.register_structure_hook(datetime, _parse_datetime)
    converter.register_unstructure_hook(datetime, _format_datetime)
    # Registered by class, so that they outrank cattrs' hooks for the str and int mixins
    # (which would pass members through unstructure unchanged).
    for base in (OpenStrEnum, OpenIntEnum):
        converter.register_structure_hook(base, _structure_open_enum)
        converter.register_unstructure_hook(base, _unstructure_enum)
    return converter
