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
import sys
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin

import attrs

__all__ = ["WIRE", "DecodeMismatch", "OpenIntEnum", "OpenIntFlag", "OpenStrEnum", "make_converter"]

if TYPE_CHECKING:
    import cattrs

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


#: Python 3.11's ``fromisoformat`` reads ``Z`` and any fraction itself.
_FROMISO_READS_Z = sys.version_info >= (3, 11)


def _parse_datetime(value: Any, _: Any = None) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        if _FROMISO_READS_Z:
            text = value
        else:
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
        #: Models whose function is being generated (a model may contain itself).
        self._building: set[Any] = set()

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
            # The model's own function (called with one argument); a model being built
            # right now (one that contains itself, as comment trees) is looked up later.
            origin = get_origin(cls) or cls
            if origin in self._building:
                return self._lazy(cls)
            model_hook: Callable[..., Any] = self.converter.get_structure_hook(cls)
            return model_hook
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

        plain = item if item in _PLAIN_CHECKS else None

        def structure_array(x: Any) -> Any:
            if x.__class__ is not list and not isinstance(x, (list, tuple)):
                raise DecodeMismatch(f"expected an array, got {_shown(x)}")
            if plain is not None:
                # Strings or integers as they are, once each is seen to be one.
                for value in x:
                    if value.__class__ is not plain:
                        break
                else:
                    return kind(x)
            else:
                try:
                    return kind(map(hook, x))
                except DecodeMismatch:
                    pass
            # Some item does not fit: find which, one by one (the rare, slow way).
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

    def model_hook(self, cls: Any) -> Callable[..., Any]:
        """The structuring function of an attrs model (generic ones included).

        Straight-line Python, generated and compiled once per model: each field is one
        ``get``, a type check of the common case inlined (``x.__class__ is int``, an
        enum's value-to-member table), and the rest through the field type's hook; the
        instance is built with every field given by keyword. Mismatches go through
        ``bad``, which raises (strict) or logs and returns None (tolerant).
        """
        origin = get_origin(cls) or cls
        if origin in self._building:
            return self._lazy(cls)
        self._building.add(origin)
        try:
            return self._compile_model(cls, origin)
        finally:
            self._building.discard(origin)

    def _lazy(self, cls: Any) -> Callable[..., Any]:
        """A model's hook looked up on first call: for a model that contains itself."""
        found: list[Callable[..., Any]] = []

        def structure_later(data: Any, _: Any = None) -> Any:
            if not found:
                found.append(self.converter.get_structure_hook(cls))
            return found[0](data, cls)

        return structure_later

    def _compile_model(self, cls: Any, origin: Any) -> Callable[..., Any]:
        hints = typing.get_type_hints(origin)
        env = dict(zip(getattr(origin, "__parameters__", ()), get_args(cls), strict=False))
        # Envelopes of the SDK's own (pages) may carry extras such as a comment count.
        envelope = getattr(origin, "__peertube_envelope__", False)
        forbid_extra = self.strict and not envelope
        model = origin.__name__
        scope: dict[str, Any] = {
            "Mapping": Mapping,
            "DecodeMismatch": DecodeMismatch,
            "MISSING": _MISSING,
            "shown": _shown,
            "cls": origin,
            "bad": self._bad,
            "absent": self._absent,
        }
        lines = ["def structure(data, _=None):"]
        lines.append("    if data.__class__ is not dict and not isinstance(data, Mapping):")
        lines.append(
            f"        raise DecodeMismatch('expected an object for {model}, got ' + shown(data))"
        )
        lines.append("    get = data.get")
        shared = None if envelope else _shared_key(origin, hints, env)
        if shared is not None:
            # A small leaf model (``{id, label}`` constants...): one frozen instance per
            # distinct answer, so a page of videos builds a few instead of hundreds.
            scope["shared"] = {}
            keys = [f"k{i}" for i in range(len(shared))]
            checks = " and ".join(
                f"k{i}.__class__ is {raw.__name__}" for i, (_, raw) in enumerate(shared)
            )
            lines.append("    key = None")
            lines.append(f"    if len(data) == {len(shared)}:")
            for k, (wire, _) in zip(keys, shared, strict=True):
                lines.append(f"        {k} = get({wire!r})")
            lines.append(f"        if {checks}:")
            lines.append(f"            key = ({', '.join(keys)},)")
            lines.append("            o = shared.get(key)")
            lines.append("            if o is not None: return o")
        wires: list[str] = []
        names: list[str] = []
        for i, field in enumerate(attrs.fields(origin)):
            wire = field.metadata.get(WIRE, field.name)
            wires.append(wire)
            names.append(field.name)
            declared = _substitute(hints.get(field.name, Any), env)
            inner = _optional_inner(declared)
            ftype = inner if inner is not None else declared
            has_default = field.default is not attrs.NOTHING
            default = field.default if has_default else None
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                raise TypeError(f"{model}.{field.name}: factories are not supported")
            scope[f"n{i}"] = (model, field.name, wire)
            scope[f"d{i}"] = default
            v = f"v{i}"
            check = _PLAIN_CHECKS.get(ftype)
            if check is not None and not (has_default and default is not None):
                # A plain field, present: one class comparison, tested first.
                if_none = "None" if inner is not None or has_default else f"absent(n{i}, data)"
                lines.append(f"    x = get({wire!r})")
                lines.append(f"    if {check}: {v} = x")
                lines.append(f"    elif x is None: {v} = {if_none}")
                lines.append(
                    f"    else: {v} = bad(n{i}, DecodeMismatch("
                    f"'expected {ftype.__name__}, got ' + shown(x)))"
                )
                continue
            if has_default and default is not None:
                # A default other than None: only a missing key takes it.
                lines.append(f"    x = get({wire!r}, MISSING)")
                lines.append(f"    if x is MISSING: {v} = d{i}")
                lines.append(f"    elif x is None: {v} = None")
            else:
                lines.append(f"    x = get({wire!r})")
                if inner is not None or has_default:
                    lines.append(f"    if x is None: {v} = None")
                else:
                    # Every release sends it: missing or null does not fit.
                    lines.append(f"    if x is None: {v} = absent(n{i}, data)")
            lines.extend(self._field_lines(i, ftype, scope))
        if forbid_extra:
            scope["known"] = frozenset(wires)
            lines.append("    extra = [k for k in data if k not in known]")
            lines.append("    if extra:")
            lines.append(
                "        raise DecodeMismatch(f'unknown keys {sorted(map(str, extra))} for "
                f"{model}')"
            )
        if _settable_slots(origin):
            # attrs' frozen __init__ parses keywords and sets each slot through
            # object.__setattr__; setting the slots directly is twice as fast, and the
            # model has nothing (validators, converters, post-init) that __init__ runs.
            lines.append("    o = new(cls)")
            for i, name in enumerate(names):
                scope[f"s{i}"] = getattr(origin, name).__set__
                lines.append(f"    s{i}(o, v{i})")
            scope["new"] = object.__new__
        else:
            args = ", ".join(f"{name}=v{i}" for i, name in enumerate(names))
            lines.append(f"    o = cls({args})")
        if shared is not None:
            lines.append(f"    if key is not None and len(shared) < {_SHARED_LIMIT}:")
            lines.append("        shared[key] = o")
        lines.append("    return o")
        source = "\n".join(lines)
        filename = f"<peertube_async structure {model} #{next(self._counter)}>"
        exec(compile(source, filename, "exec"), scope)
        structure: Callable[..., Any] = scope["structure"]
        return structure

    def _field_lines(self, i: int, ftype: Any, scope: dict[str, Any]) -> list[str]:
        """The ``elif``/``else`` branches that decode a non-None ``x`` into ``v{i}``."""
        v = f"v{i}"
        check = _PLAIN_CHECKS.get(ftype)
        if check is not None:
            # A plain field: the common case is one class comparison.
            scope[f"t{i}"] = ftype
            return [
                f"    elif {check}: {v} = x",
                f"    else: {v} = bad(n{i}, DecodeMismatch("
                f"'expected {ftype.__name__}, got ' + shown(x)))",
            ]
        if ftype is Any or ftype is object:
            return [f"    else: {v} = x"]
        if isinstance(ftype, type) and issubclass(ftype, enum.Enum):
            # Known values straight from the enum's own table; the rest (unknown values,
            # wrong types) through its hook.
            scope[f"m{i}"] = ftype._value2member_map_
            scope[f"h{i}"] = _enum_hook(ftype)
            plain = "str" if issubclass(ftype, str) else "int"
            return [
                f"    elif x.__class__ is {plain} and x in m{i}: {v} = m{i}[x]",
                "    else:",
                f"        try: {v} = h{i}(x)",
                f"        except DecodeMismatch as exc: {v} = bad(n{i}, exc)",
            ]
        scope[f"h{i}"] = self.value_hook(ftype)
        return [
            "    else:",
            f"        try: {v} = h{i}(x)",
            f"        except DecodeMismatch as exc: {v} = bad(n{i}, exc)",
        ]

    def _absent(self, where: tuple[str, str, str], data: Mapping[str, Any]) -> None:
        """A field every release sends came missing or null."""
        missing = where[2] not in data
        return self._bad(where, _MISSING_ERROR if missing else _NULL_ERROR)

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
_MISSING_ERROR = DecodeMismatch("missing, although every supported release sends it")
_NULL_ERROR = DecodeMismatch("null, although every supported release sends a value")


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
    if x.__class__ is str and _FROMISO_READS_Z:
        # PeerTube's own form (``...T17:11:39.065Z``) straight through.
        try:
            parsed = _fromisoformat(x)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is _UTC:
                return parsed
    if x.__class__ is not str:
        raise DecodeMismatch(f"expected an ISO 8601 datetime, got {_shown(x)}")
    try:
        return _parse_datetime(x)
    except ValueError:
        raise DecodeMismatch(f"expected an ISO 8601 datetime, got {_shown(x)}") from None


_fromisoformat = datetime.fromisoformat
_UTC = timezone.utc


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


def _settable_slots(cls: Any) -> bool:
    """Whether instances of the attrs class ``cls`` may be built by setting its slots:
    slotted, and nothing in its ``__init__`` beyond storing the values."""
    if "__slots__" not in vars(cls) or hasattr(cls, "__attrs_post_init__"):
        return False
    if hasattr(cls, "__attrs_pre_init__"):
        return False
    return all(
        f.validator is None and f.converter is None and f.init and f.alias == f.name
        for f in attrs.fields(cls)
    )


#: Leaf models of at most this many fields share instances (see ``_shared_key``).
_SHARED_FIELDS = 3
#: Distinct instances kept per shared model: a server sending endless distinct labels
#: fills it once, then gets fresh instances.
_SHARED_LIMIT = 4096


def _shared_key(cls: Any, hints: Mapping[str, Any], env: Mapping[Any, Any]) -> Any:
    """``[(wire name, raw class), ...]`` when instances of ``cls`` may be shared between
    answers: frozen, at most :data:`_SHARED_FIELDS` fields, each a string, integer,
    boolean or enum of them, so that equal raw values always build equal instances.
    None otherwise."""
    fields = attrs.fields(cls)
    if not 0 < len(fields) <= _SHARED_FIELDS or not _frozen(cls):
        return None
    key = []
    for field in fields:
        declared = _substitute(hints.get(field.name, Any), env)
        ftype = _optional_inner(declared) or declared
        if ftype in (str, int, bool):
            raw = ftype
        elif isinstance(ftype, type) and issubclass(ftype, enum.Enum):
            raw = str if issubclass(ftype, str) else int
            if not issubclass(ftype, raw):
                return None
        else:
            return None
        key.append((field.metadata.get(WIRE, field.name), raw))
    return key


def _frozen(cls: Any) -> bool:
    props = getattr(cls, "__attrs_props__", None)  # attrs >= 25.4
    if props is not None:
        return bool(props.is_frozen)
    return getattr(cls.__setattr__, "__name__", "") == "_frozen_setattrs"


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
    import cattrs  # here, not at import: a client that decodes nothing never loads it

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
