"""Converting between PeerTube's JSON and attrs models.

`make_converter` builds the cattrs converter the SDK uses. Its rules:

Wire names
    Attributes are snake_case. When the JSON key differs from the attribute name, the field
    carries it in its attrs metadata under :data:`WIRE`::

        short_uuid: str = attrs.field(metadata={WIRE: "shortUUID"})

    A field without that key uses its own name on the wire (``id``, ``client_secret``).
    Structuring and unstructuring both honour it.

Types, checked, not coerced
    A field declared ``int`` takes a JSON integer, ``str`` a string, ``float`` any number,
    ``bool`` a boolean, ``datetime`` an ISO 8601 string, a model an object, ``tuple[X,
    ...]`` an array. Nothing is guessed: ``"3"`` is not an int and ``{}`` is not a string.

Tolerant (default) and strict
    A value that does not fit its field, or a field every supported release sends that is
    missing or null, does not lose the answer in the default mode: the field is ``None``
    (an array item that does not fit is left out), and one warning per model and field is
    logged on ``peertube_async.decode``. Unknown keys are ignored. ``strict=True`` (tests)
    raises :class:`DecodeMismatch` instead, naming the field's path (``data[3].id:
    expected int, got str 'repeat:1'``), and also rejects unknown keys.

Datetimes
    ISO 8601 strings (``2026-11-26T17:11:39.065Z``) become timezone-aware UTC datetimes and
    are written back as ISO strings ending in ``Z``. A naive datetime is taken to be UTC.

Open enums
    :class:`OpenStrEnum`, :class:`OpenIntEnum` and :class:`OpenIntFlag` accept values they
    do not list: the result is a pseudo-member holding the value, with ``known`` False, so
    a newer server's values decode instead of failing.

Each model's structuring function is generated once, as Python source compiled on first
use, with the checks of plain fields inlined; decoding does no reflection.
"""

from __future__ import annotations

import enum
import itertools
import logging
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

__all__ = ["WIRE", "DecodeMismatch", "OpenIntEnum", "OpenIntFlag", "OpenStrEnum", "make_converter"]

WIRE = "wire"
"""The attrs metadata key that holds a field's JSON name."""

logger = logging.getLogger("peertube_async.decode")

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
    """An integer enum that also accepts values it does not list (see :class:`OpenStrEnum`).

    PeerTube's numeric constants (``VideoState``, ``VideoPrivacy``, ``UserRole``...) are
    generated as these: ``video.state.id is VideoState.PUBLISHED``.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = str(value)
        member._value_ = value
        return member


class OpenIntFlag(enum.IntFlag):
    """A bit set of PeerTube flags; bits it does not name are kept in the value."""

    @property
    def known(self) -> bool:
        """Whether every set bit is a named flag."""
        named = 0
        for member in type(self).__members__.values():
            named |= member.value
        return self.value & ~named == 0


class DecodeMismatch(ValueError):
    """A JSON value that does not fit the declared type, with where it sits."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        self.message = message
        self.path = path
        super().__init__(self.describe())

    def at(self, step: str | int) -> DecodeMismatch:
        """The same mismatch, one level further out."""
        return DecodeMismatch(self.message, (step, *self.path))

    @property
    def where(self) -> str:
        """``data[3].id``; empty at the top level."""
        text = ""
        for step in self.path:
            text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
        return text

    def describe(self) -> str:
        """``data[3].id: expected int, got str 'repeat:1'``."""
        return f"{self.where}: {self.message}" if self.path else self.message


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


def _format_datetime(value: datetime | None) -> str | None:
    if value is None:
        # A field a tolerant decode left empty (see the module docstring).
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    else:
        value = value.astimezone(timezone.utc)
    # PeerTube writes milliseconds; keep microseconds only when they carry information.
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _unstructure_enum(value: enum.Enum | None) -> Any:
    return None if value is None else value._value_


def _is_attrs(cls: Any) -> bool:
    return attrs.has(get_origin(cls) or cls)


def _optional_inner(cls: Any) -> Any:
    """``X`` for ``X | None`` (``Optional[X]``), else None."""
    if get_origin(cls) not in (Union, types.UnionType):
        return None
    args = get_args(cls)
    if len(args) != 2 or type(None) not in args:
        return None
    return args[0] if args[1] is type(None) else args[1]


def _shown(value: Any) -> str:
    """A value as it appears in a message: its type and a short excerpt."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _type_name(cls: Any) -> str:
    return getattr(cls, "__name__", None) or str(cls).replace("typing.", "")


_warned: set[tuple[str, str]] = set()


def _warn(model: str, field: str, problem: DecodeMismatch, outcome: str) -> None:
    """One warning per model and field for the life of the process."""
    key = (model, field)
    if key in _warned:
        return
    _warned.add(key)
    logger.warning(
        "a PeerTube answer does not fit %s: %s; %s (later ones for %s.%s are not logged)",
        model,
        problem.describe(),
        outcome,
        model,
        field,
    )


_PLAIN_CHECKS: dict[Any, str] = {
    str: "x.__class__ is str",
    int: "x.__class__ is int",
    bool: "x.__class__ is bool",
}


class _Hooks:
    """Structuring functions of one converter (tolerant or strict), built on demand."""

    def __init__(self, converter: cattrs.Converter, *, strict: bool) -> None:
        self.converter = converter
        self.strict = strict
        self._counter = itertools.count()

    # -- one value of a declared type -------------------------------------------------

    def value_hook(self, cls: Any) -> Callable[[Any], Any]:
        """``hook(x)`` for a non-None ``x`` of type ``cls``; raises DecodeMismatch."""
        if cls is Any or cls is object:
            return _identity
        if cls in (str, int, bool):
            return _plain_hook(cls)
        if cls is float:
            return _float_hook
        if cls is datetime:
            return _datetime_hook
        if isinstance(cls, type) and issubclass(cls, enum.Enum):
            return _enum_hook(cls)
        inner = _optional_inner(cls)
        if inner is not None:
            hook = self.value_hook(inner)
            return lambda x: None if x is None else hook(x)
        origin = get_origin(cls)
        if origin in (Union, types.UnionType):
            return self._union_hook(cls)
        if origin in (tuple, list) or cls in (list, tuple):
            args = get_args(cls)
            item = args[0] if args else Any
            return self._array_hook(cls, item, tuple if origin is tuple else list)
        if origin is dict or cls is dict:
            args = get_args(cls)
            return self._dict_hook(args[1] if len(args) == 2 else Any)
        if _is_attrs(cls):
            # Looked up on first use: a model may contain itself (comment trees).
            found: list[Callable[[Any, Any], Any]] = []

            def structure_model(x: Any) -> Any:
                if not found:
                    found.append(self.converter.get_structure_hook(cls))
                return found[0](x, cls)

            return structure_model
        if cls is bytes:
            return _plain_hook(bytes)
        raise TypeError(f"no decoding for {cls!r}")

    def _union_hook(self, cls: Any) -> Callable[[Any], Any]:
        options = [self.value_hook(a) for a in get_args(cls) if a is not type(None)]
        name = _type_name(cls)

        def structure_union(x: Any) -> Any:
            for option in options:
                try:
                    return option(x)
                except DecodeMismatch:
                    continue
            raise DecodeMismatch(f"expected {name}, got {_shown(x)}")

        return structure_union

    def _array_hook(self, cls: Any, item: Any, kind: type) -> Callable[[Any], Any]:
        hook = self.value_hook(item)
        strict = self.strict
        label = f"items of {_type_name(item)}"

        def structure_array(x: Any) -> Any:
            if x.__class__ is not list and not isinstance(x, (list, tuple)):
                raise DecodeMismatch(f"expected an array, got {_shown(x)}")
            out = []
            for i, value in enumerate(x):
                try:
                    out.append(hook(value))
                except DecodeMismatch as exc:
                    if strict:
                        raise exc.at(i) from None
                    # The item cannot be represented: leave it out, keep the rest.
                    _warn("array", label, exc.at(i), "the item was left out")
            return kind(out)

        return structure_array

    def _dict_hook(self, value_type: Any) -> Callable[[Any], Any]:
        hook = self.value_hook(value_type)
        strict = self.strict
        label = f"values of {_type_name(value_type)}"

        def structure_dict(x: Any) -> Any:
            if not isinstance(x, Mapping):
                raise DecodeMismatch(f"expected an object, got {_shown(x)}")
            if hook is _identity:
                return dict(x)
            out = {}
            for key, value in x.items():
                try:
                    out[str(key)] = None if value is None else hook(value)
                except DecodeMismatch as exc:
                    if strict:
                        raise exc.at(str(key)) from None
                    _warn("object", label, exc.at(str(key)), "the entry was left out")
            return out

        return structure_dict

    # -- a model ------------------------------------------------------------------------

    def model_hook(self, cls: Any) -> Callable[[Any, Any], Any]:
        """The structuring function of an attrs model (generic ones included)."""
        origin = get_origin(cls) or cls
        hints = typing.get_type_hints(origin)
        env = dict(zip(getattr(origin, "__parameters__", ()), get_args(cls), strict=False))
        # Envelopes of the SDK's own (pages) may carry extras such as a comment count.
        envelope = getattr(origin, "__peertube_envelope__", False)
        forbid_extra = self.strict and not envelope
        model = origin.__name__
        lines = ["def structure(data, _):"]
        lines.append("    if data.__class__ is not dict and not isinstance(data, Mapping):")
        lines.append(
            f"        raise DecodeMismatch('expected an object for {model}, got ' + shown(data))"
        )
        lines.append("    get = data.get")
        lines.append("    kw = {}")
        scope: dict[str, Any] = {
            "Mapping": Mapping,
            "DecodeMismatch": DecodeMismatch,
            "MISSING": _MISSING,
            "shown": _shown,
            "cls": origin,
            "bad": self._bad,
            "MISSING_ERROR": DecodeMismatch("missing, although every supported release sends it"),
            "NULL_ERROR": DecodeMismatch("null, although every supported release sends a value"),
        }
        wires = []
        for i, field in enumerate(attrs.fields(origin)):
            wire = field.metadata.get(WIRE, field.name)
            wires.append(wire)
            declared = _substitute(hints.get(field.name, Any), env)
            inner = _optional_inner(declared)
            nullable = inner is not None
            ftype = inner if nullable else declared
            has_default = field.default is not attrs.NOTHING
            scope[f"h{i}"] = self.value_hook(ftype)
            scope[f"n{i}"] = (model, field.name, wire)
            check = _PLAIN_CHECKS.get(ftype)
            name = field.name
            lines.append(f"    x = get({wire!r}, MISSING)")
            # Missing: the attrs default, or (a field every release sends) a mismatch.
            lines.append("    if x is MISSING:")
            if has_default:
                lines.append("        pass")
            else:
                lines.append(f"        kw[{name!r}] = bad(n{i}, MISSING_ERROR)")
            lines.append("    elif x is None:")
            if nullable or (has_default and field.default is None):
                lines.append(f"        kw[{name!r}] = None")
            else:
                lines.append(f"        kw[{name!r}] = bad(n{i}, NULL_ERROR)")
            if check is not None:
                lines.append(f"    elif {check}:")
                lines.append(f"        kw[{name!r}] = x")
            lines.append("    else:")
            lines.append("        try:")
            lines.append(f"            kw[{name!r}] = h{i}(x)")
            lines.append("        except DecodeMismatch as exc:")
            lines.append(f"            kw[{name!r}] = bad(n{i}, exc)")
        if forbid_extra:
            scope["known"] = frozenset(wires)
            lines.append("    extra = [k for k in data if k not in known]")
            lines.append("    if extra:")
            lines.append(
                "        raise DecodeMismatch(f'unknown keys {sorted(map(str, extra))} for "
                f"{model}')"
            )
        lines.append("    return cls(**kw)")
        source = "\n".join(lines)
        filename = f"<peertube_async structure {model} #{next(self._counter)}>"
        exec(compile(source, filename, "exec"), scope)
        structure: Callable[[Any, Any], Any] = scope["structure"]
        return structure

    def unstructure_hook(self, cls: Any) -> Callable[[Any], dict[str, Any]]:
        """The JSON form of a model, with wire names; a field left None (see tolerant
        decoding) is written as null whatever its declared type."""
        origin = get_origin(cls) or cls
        hints = typing.get_type_hints(origin)
        unstructure = self.converter.unstructure
        lines = ["def unstructure_model(obj):", "    out = {}"]
        for field in attrs.fields(origin):
            wire = field.metadata.get(WIRE, field.name)
            declared = hints.get(field.name, Any)
            plain = (_optional_inner(declared) or declared) in (str, int, bool, float)
            lines.append(f"    v = obj.{field.name}")
            if plain:
                lines.append(f"    out[{wire!r}] = v")
            else:
                lines.append(f"    out[{wire!r}] = None if v is None else unstructure(v)")
        lines.append("    return out")
        scope: dict[str, Any] = {"unstructure": unstructure}
        filename = f"<peertube_async unstructure {origin.__name__} #{next(self._counter)}>"
        exec(compile("\n".join(lines), filename, "exec"), scope)
        result: Callable[[Any], dict[str, Any]] = scope["unstructure_model"]
        return result

    def _bad(self, where: tuple[str, str, str], problem: DecodeMismatch) -> None:
        """A field that does not fit: an error in strict mode, else None and a warning."""
        model, field, wire = where
        located = problem.at(wire)
        if self.strict:
            raise located
        _warn(model, field, located, "decoded as None")


_MISSING = object()


def _identity(x: Any) -> Any:
    return x


def _plain_hook(cls: type) -> Callable[[Any], Any]:
    name = cls.__name__

    def structure_plain(x: Any) -> Any:
        if x.__class__ is cls:
            return x
        raise DecodeMismatch(f"expected {name}, got {_shown(x)}")

    return structure_plain


def _float_hook(x: Any) -> float:
    if x.__class__ is float:
        return float(x)
    if x.__class__ is int:
        return float(x)
    raise DecodeMismatch(f"expected a number, got {_shown(x)}")


def _datetime_hook(x: Any) -> datetime:
    if x.__class__ is not str:
        raise DecodeMismatch(f"expected an ISO 8601 datetime, got {_shown(x)}")
    try:
        return _parse_datetime(x)
    except ValueError:
        raise DecodeMismatch(f"expected an ISO 8601 datetime, got {_shown(x)}") from None


def _enum_hook(cls: type[_E]) -> Callable[[Any], _E]:
    wanted = str if issubclass(cls, str) else int

    def structure_enum(x: Any) -> _E:
        if x.__class__ is wanted:
            try:
                return cls(x)
            except ValueError:
                pass
        raise DecodeMismatch(f"expected a {cls.__name__} value, got {_shown(x)}")

    return structure_enum


def _substitute(tp: Any, env: Mapping[Any, Any]) -> Any:
    """``tp`` with the type variables of a generic model replaced (``list[T]``)."""
    if not env:
        return tp
    if isinstance(tp, TypeVar):
        return env.get(tp, Any)
    args = get_args(tp)
    if not args:
        return tp
    new = tuple(_substitute(a, env) for a in args)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return Union[new]  # noqa: UP007 - built from a runtime tuple
    return origin[new] if origin is not None else tp


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """Return a converter for PeerTube payloads (see the module docstring for its rules).

    ``strict=True`` makes a value that does not fit, a missing field every release sends,
    and an unknown key an error (:class:`DecodeMismatch`); the default decodes what fits
    and logs the rest.
    """
    converter = cattrs.Converter()
    hooks = _Hooks(converter, strict=strict)

    def structure_any(cls: Any) -> Callable[[Any, Any], Any]:
        hook = hooks.value_hook(cls)

        def structure(value: Any, _: Any) -> Any:
            if value is None:
                if _optional_inner(cls) is not None:
                    return None
                raise DecodeMismatch(f"expected {_type_name(cls)}, got null")
            return hook(value)

        return structure

    converter.register_structure_hook_factory(_is_attrs, hooks.model_hook)
    converter.register_structure_hook_factory(lambda cls: not _is_attrs(cls), structure_any)
    converter.register_unstructure_hook_factory(_is_attrs, hooks.unstructure_hook)
    converter.register_unstructure_hook(datetime, _format_datetime)
    # Registered by class, so that they outrank cattrs' hooks for the str and int mixins
    # (which would pass members through unstructure unchanged).
    for base in (OpenStrEnum, OpenIntEnum, OpenIntFlag):
        converter.register_unstructure_hook(base, _unstructure_enum)
    return converter
