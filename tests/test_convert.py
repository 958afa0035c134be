"""The converter: wire names, tolerance and strictness, datetimes, open enums."""

from __future__ import annotations

import logging
import pickle
from datetime import datetime, timedelta, timezone

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from peertube_async._convert import (
    WIRE,
    DecodeMismatch,
    OpenIntEnum,
    OpenStrEnum,
    _parse_datetime_slow,
    _warned,
    make_converter,
)


class Color(OpenStrEnum):
    RED = "red"
    GREEN = "green"


class Level(OpenIntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen(kw_only=True)
class Inner:
    short_uuid: str = attrs.field(metadata={WIRE: "shortUUID"})
    when: datetime | None = attrs.field(default=None, metadata={WIRE: "createdAt"})


@attrs.frozen(kw_only=True)
class Outer:
    id: int
    invalid_params: dict[str, Inner] | None = attrs.field(
        default=None, metadata={WIRE: "invalid-params"}
    )
    items: tuple[Inner, ...] = ()
    color: Color | None = None
    level: Level | None = None


@attrs.frozen(kw_only=True)
class Node:
    id: int
    children: tuple[Node, ...]


WIRE_OUTER = {
    "id": 7,
    "invalid-params": {"a": {"shortUUID": "x", "createdAt": "2026-11-26T17:11:39.065Z"}},
    "items": [{"shortUUID": "y", "createdAt": None}],
    "color": "green",
    "level": 2,
}


@pytest.fixture
def converter() -> cattrs.Converter:
    return make_converter()


def test_wire_names_structure_and_unstructure(converter: cattrs.Converter) -> None:
    outer = converter.structure(WIRE_OUTER, Outer)
    assert outer.invalid_params is not None
    assert outer.invalid_params["a"].short_uuid == "x"
    assert outer.items == (Inner(short_uuid="y"),)
    assert outer.color is Color.GREEN
    assert outer.level is Level.HIGH
    assert converter.unstructure(outer) == WIRE_OUTER


def test_tolerant_by_default_ignores_unknown_keys(converter: cattrs.Converter) -> None:
    data = {**WIRE_OUTER, "addedInVersion9": {"nested": True}}
    assert converter.structure(data, Outer) == converter.structure(WIRE_OUTER, Outer)


def test_strict_rejects_unknown_keys_also_when_nested() -> None:
    strict = make_converter(strict=True)
    assert strict.structure(WIRE_OUTER, Outer).id == 7
    with pytest.raises(DecodeMismatch, match=r"unknown keys \['extra'\] for Outer"):
        strict.structure({**WIRE_OUTER, "extra": 1}, Outer)
    nested = {**WIRE_OUTER, "items": [{"shortUUID": "y", "short_uuid": "y"}]}
    with pytest.raises(DecodeMismatch) as caught:
        strict.structure(nested, Outer)
    assert caught.value.where == "items[0]"


def test_missing_optional_fields_take_defaults(converter: cattrs.Converter) -> None:
    assert converter.structure({"id": 1}, Outer) == Outer(id=1)


def test_missing_required_field_is_an_error_when_strict() -> None:
    strict = make_converter(strict=True)
    with pytest.raises(DecodeMismatch) as caught:
        strict.structure({"invalid-params": None}, Outer)
    assert caught.value.describe() == "id: missing, although every supported release sends it"


def test_a_field_that_does_not_fit_is_none_and_logged_once(
    converter: cattrs.Converter, caplog: pytest.LogCaptureFixture
) -> None:
    _warned.clear()
    with caplog.at_level(logging.WARNING, logger="peertube_async.decode"):
        first = converter.structure(
            {"id": "repeat:1", "items": [{"shortUUID": 5}, "not an object", {"shortUUID": "b"}]},
            Outer,
        )
        again = converter.structure({"id": "x"}, Outer)
    # The answer is kept: the field that does not fit is None, an item that is not even
    # an object is left out, the rest is there.
    assert first.id is None
    assert first.items == (Inner(short_uuid=None), Inner(short_uuid="b"))
    assert again.id is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert "Outer: id: expected int, got str 'repeat:1'; decoded as None" in messages[0]
    assert "shortUUID: expected str, got int 5" in messages[1]
    assert "[1]: expected an object for Inner, got str" in messages[2]
    assert "the item was left out" in messages[2]


def test_strict_names_the_path_of_a_field_that_does_not_fit() -> None:
    strict = make_converter(strict=True)
    data = {"id": 1, "items": [{"shortUUID": "a"}, {"shortUUID": "b", "createdAt": 3}]}
    with pytest.raises(DecodeMismatch) as caught:
        strict.structure(data, Outer)
    assert str(caught.value) == "items[1].createdAt: expected an ISO 8601 datetime, got int 3"


def test_values_are_checked_not_coerced() -> None:
    strict = make_converter(strict=True)
    for bad in ("7", 7.0, True, None, [7]):
        with pytest.raises(DecodeMismatch, match=r"^id: "):
            strict.structure({"id": bad}, Outer)
    with pytest.raises(DecodeMismatch, match="shortUUID: expected str, got dict"):
        strict.structure({"id": 1, "items": [{"shortUUID": {"a": 1}}]}, Outer)


def test_hooks_are_generated_once_per_class(converter: cattrs.Converter) -> None:
    first = converter.get_structure_hook(Outer)
    assert converter.get_structure_hook(Outer) is first
    assert converter.get_unstructure_hook(Outer) is converter.get_unstructure_hook(Outer)


def test_tuple_field_rejects_a_string() -> None:
    strict = make_converter(strict=True)
    with pytest.raises(DecodeMismatch, match="items: expected an array, got str"):
        strict.structure({"id": 1, "items": "abc"}, Outer)


def test_a_model_contains_itself() -> None:
    tree = {"id": 1, "children": [{"id": 2, "children": [{"id": 3, "children": []}]}]}
    decoded = make_converter(strict=True).structure(tree, Node)
    assert decoded.children[0].children[0].id == 3
    assert make_converter().unstructure(decoded) == tree


def test_unstructure_writes_a_field_left_none_as_null(converter: cattrs.Converter) -> None:
    outer = converter.structure({"id": None, "items": None}, Outer)
    assert converter.unstructure(outer)["id"] is None
    assert converter.unstructure(outer)["items"] is None


# Datetimes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2026-11-26T17:11:39.065Z",
            datetime(2026, 11, 26, 17, 11, 39, 65000, tzinfo=timezone.utc),
        ),
        ("2026-11-26T17:11:39Z", datetime(2026, 11, 26, 17, 11, 39, tzinfo=timezone.utc)),
        (
            "2026-11-26T19:11:39.065+02:00",
            datetime(2026, 11, 26, 17, 11, 39, 65000, tzinfo=timezone.utc),
        ),
        # No offset: PeerTube only writes UTC, so a naive value is read as UTC.
        ("2026-11-26T17:11:39.065", datetime(2026, 11, 26, 17, 11, 39, 65000, tzinfo=timezone.utc)),
    ],
)
def test_datetimes_decode_aware_utc(
    converter: cattrs.Converter, text: str, expected: datetime
) -> None:
    value = converter.structure(text, datetime)
    assert value == expected
    assert value.tzinfo is timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Python 3.10's fromisoformat rejects all of these; the fallback parser reads them.
        (
            "2026-11-26T17:11:39.065Z",
            datetime(2026, 11, 26, 17, 11, 39, 65000, tzinfo=timezone.utc),
        ),
        (
            "2026-11-26T17:11:39.06512Z",
            datetime(2026, 11, 26, 17, 11, 39, 65120, tzinfo=timezone.utc),
        ),
        (
            "2026-11-26T17:11:39.1234567-0130",
            datetime(2026, 11, 26, 18, 41, 39, 123456, tzinfo=timezone.utc),
        ),
        ("2026-11-26T17:11Z", datetime(2026, 11, 26, 17, 11, tzinfo=timezone.utc)),
    ],
)
def test_fallback_datetime_parser(text: str, expected: datetime) -> None:
    assert _parse_datetime_slow(text) == expected


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45T00:00:00Z", "", 1700000000])
def test_bad_datetimes_are_errors(converter: cattrs.Converter, bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        converter.structure(bad, datetime)


def test_datetimes_unstructure_to_iso_with_z(converter: cattrs.Converter) -> None:
    ms = datetime(2026, 11, 26, 17, 11, 39, 65000, tzinfo=timezone.utc)
    assert converter.unstructure(ms) == "2026-11-26T17:11:39.065Z"
    us = datetime(2026, 11, 26, 17, 11, 39, 65001, tzinfo=timezone.utc)
    assert converter.unstructure(us) == "2026-11-26T17:11:39.065001Z"
    other = datetime(2026, 11, 26, 19, 11, 39, tzinfo=timezone(timedelta(hours=2)))
    assert converter.unstructure(other) == "2026-11-26T17:11:39.000Z"
    assert converter.unstructure(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
        ),
    )
)
def test_datetime_round_trip(value: datetime) -> None:
    converter = make_converter()
    wire = converter.unstructure(value)
    assert wire.endswith("Z")
    back = converter.structure(wire, datetime)
    assert back == value
    assert back.tzinfo is timezone.utc


# Open enums


def test_open_str_enum_keeps_unknown_values() -> None:
    new = Color("brand_new_code")
    assert new.value == "brand_new_code"
    assert new.known is False
    assert Color.RED.known is True
    assert isinstance(new, Color)
    assert new == "brand_new_code"
    assert Color("brand_new_code") == new
    assert hash(new) == hash("brand_new_code")
    by_name: dict[str, int] = {Color.RED: 1}
    assert by_name["red"] == 1
    assert str(new) == "brand_new_code"
    assert f"{Color.RED}" == "red"
    assert "unknown" in repr(new)
    assert repr(Color.RED) == "<Color.RED: 'red'>"
    assert list(Color) == [Color.RED, Color.GREEN]
    assert Color("red") is Color.RED


def test_open_enums_pickle() -> None:
    assert pickle.loads(pickle.dumps(Color.RED)) is Color.RED
    back = pickle.loads(pickle.dumps(Color("later")))
    assert back == "later"
    assert back.known is False
    assert pickle.loads(pickle.dumps(Level(9))) == 9


def test_open_enums_reject_wrong_types() -> None:
    with pytest.raises(ValueError):
        Color(3)
    with pytest.raises(ValueError):
        Level("2")


def test_open_int_enum_keeps_unknown_values() -> None:
    level = Level(42)
    assert level.value == 42
    assert level == 42
    assert level.known is False
    assert Level.HIGH.known is True
    assert str(level) == "42"
    assert f"{level:03d}" == "042"


def test_converter_keeps_unknown_enum_values(converter: cattrs.Converter) -> None:
    outer = converter.structure({"id": 1, "color": "ultraviolet", "level": 99}, Outer)
    assert outer.color == "ultraviolet"
    assert outer.color is not None
    assert outer.color.known is False
    assert outer.level == 99
    wire = converter.unstructure(outer)
    assert wire["color"] == "ultraviolet"
    assert type(wire["color"]) is str
    assert type(wire["level"]) is int


def test_strict_converter_also_keeps_unknown_enum_values() -> None:
    outer = make_converter(strict=True).structure({"id": 1, "color": "ultraviolet"}, Outer)
    assert outer.color == "ultraviolet"


@attrs.frozen(kw_only=True)
class Constant:
    id: Level
    label: str


@attrs.frozen(kw_only=True)
class Flagged:
    on: bool


@attrs.define(kw_only=True)
class MutableConstant:
    id: int
    label: str


def test_equal_small_constants_share_one_instance() -> None:
    converter = make_converter()
    first = converter.structure({"id": 1, "label": "Low"}, Constant)
    again = converter.structure({"id": 1, "label": "Low"}, Constant)
    other = converter.structure({"id": 1, "label": "Bas"}, Constant)
    assert first is again and first == Constant(id=Level.LOW, label="Low")
    assert other is not first and other.label == "Bas"
    # An unknown value of an open enum is shared the same way, and stays itself.
    assert converter.structure({"id": 7, "label": "x"}, Constant).id.value == 7
    # A mutable model is never shared.
    one = converter.structure({"id": 1, "label": "Low"}, MutableConstant)
    assert converter.structure({"id": 1, "label": "Low"}, MutableConstant) is not one


def test_shared_instances_do_not_blur_types_or_extra_keys() -> None:
    converter = make_converter()
    assert converter.structure({"on": True}, Flagged).on is True
    # 1 == True and hash(1) == hash(True): the key's class check keeps them apart.
    with pytest.raises(DecodeMismatch):
        make_converter(strict=True).structure({"on": 1}, Flagged)
    strict = make_converter(strict=True)
    strict.structure({"id": 1, "label": "Low"}, Constant)
    with pytest.raises(DecodeMismatch, match="unknown keys"):
        strict.structure({"id": 1, "label": "Low", "extra": 0}, Constant)
    with pytest.raises(DecodeMismatch):
        strict.structure({"id": True, "label": "Low"}, Constant)


def test_a_flood_of_distinct_constants_is_not_kept() -> None:
    converter = make_converter()
    made = [converter.structure({"id": 1, "label": f"l{i}"}, Constant) for i in range(5000)]
    assert len({m.label for m in made}) == 5000
    again = converter.structure({"id": 1, "label": "l4999"}, Constant)
    assert again == made[-1] and again is not made[-1]  # past the limit: built anew
