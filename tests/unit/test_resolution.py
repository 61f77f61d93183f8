"""Unit tests for configuration.resolution (pure, no Django)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from configuration import resolution
from configuration.resolution import (
    KEY_PATTERN,
    VALUE_TYPES,
    ConfigError,
    Definition,
    Resolved,
    ValueRow,
    next_change_after,
    resolve,
    validate_default,
    validate_key,
    validate_schema,
    validate_value,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


DEF = Definition(key="payments.limit", value_type="integer", default=10, version=3)
NO_DEFAULT = Definition(key="payments.limit", value_type="integer", default=None, version=1)

# A timeline: global values from day 0 and day 10; institution A values from day 5 and 20;
# institution B only from day 30.
TIMELINE = [
    ValueRow(None, 100, at(0), 1, id=1),
    ValueRow(None, 200, at(10), 2, id=2),
    ValueRow("A", 500, at(5), 1, id=3),
    ValueRow("A", 600, at(20), 4, id=4),
    ValueRow("B", 900, at(30), 1, id=5),
]


# ------------------------------------------------------------------- constants, keys


def test_value_types__listed__match_contract():
    assert VALUE_TYPES == ("string", "integer", "decimal", "boolean", "json")


@pytest.mark.parametrize("key", ["a", "payments.max_amount", "a1.b_2.c", "x" * 100])
def test_validate_key__valid__returned(key):
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "A", "1a", "a..b", "a.", ".a", "a-b", "a.1b", "a\n", "x" * 101, "é"]
)
def test_validate_key__invalid__refused(key):
    with pytest.raises(ConfigError):
        validate_key(key)


def test_validate_key__too_long__message_names_limit():
    with pytest.raises(ConfigError, match="at most 100 characters"):
        validate_key("x" * 101)


def test_key_pattern__is_contract_pattern():
    assert KEY_PATTERN.pattern == r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"


# ---------------------------------------------------------------------- resolution


def test_resolve__before_any_value__falls_back_to_default():
    assert resolve(DEF, TIMELINE, "A", at(-1)) == Resolved(10, "default", None, 3)


def test_resolve__only_global_value_before_at__global_wins():
    assert resolve(DEF, TIMELINE, "A", at(1)) == Resolved(100, "global", at(0), 1)


def test_resolve__institution_value_before_at__wins_over_global():
    # Global day 10 is later than A's day 5 value, but the institution's own value wins.
    assert resolve(DEF, TIMELINE, "A", at(15)) == Resolved(500, "institution", at(5), 1)


def test_resolve__later_institution_value__takes_over_at_its_instant():
    assert resolve(DEF, TIMELINE, "A", at(20) - timedelta(microseconds=1)).value == 500
    assert resolve(DEF, TIMELINE, "A", at(20)) == Resolved(600, "institution", at(20), 4)


def test_resolve__value_effective_exactly_at__applies():
    assert resolve(DEF, TIMELINE, None, at(10)) == Resolved(200, "global", at(10), 2)


def test_resolve__other_institutions_rows__ignored():
    assert resolve(DEF, TIMELINE, "B", at(15)) == Resolved(200, "global", at(10), 2)
    assert resolve(DEF, TIMELINE, "C", at(40)).source == "global"


def test_resolve__global_resolve__ignores_institution_rows():
    assert resolve(DEF, TIMELINE, None, at(25)) == Resolved(200, "global", at(10), 2)
    assert resolve(DEF, TIMELINE, None, at(-1)).source == "default"


def test_resolve__future_institution_value_only__uses_global():
    assert resolve(DEF, TIMELINE, "B", at(29)).source == "global"
    assert resolve(DEF, TIMELINE, "B", at(30)).source == "institution"


def test_resolve__no_rows_no_default__absent():
    assert resolve(NO_DEFAULT, [], "A", at(0)) is None
    assert resolve(NO_DEFAULT, TIMELINE, "A", at(-1)) is None


def test_resolve__other_time_zone_at__compared_as_instant():
    plus_two = timezone(timedelta(hours=2))
    # 2026-01-11T01:00+02:00 is 2026-01-10T23:00Z: still before the day-10 global value.
    moment = datetime(2026, 1, 11, 1, 0, tzinfo=plus_two)
    assert resolve(DEF, TIMELINE, None, moment).value == 100


def test_resolve__naive_at__refused():
    with pytest.raises(ConfigError, match="at must carry a time zone"):
        resolve(DEF, TIMELINE, "A", datetime(2026, 1, 1))


def test_resolve__iterator_rows__consumed_once():
    assert resolve(DEF, iter(TIMELINE), "A", at(25)).value == 600


def test_resolve_all__several_definitions__absent_keys_left_out():
    other = Definition(key="other", value_type="string", default=None, version=1)
    third = Definition(key="third", value_type="string", default="x", version=2)
    result = resolution.resolve_all([(DEF, TIMELINE), (other, []), (third, [])], "A", at(25))
    assert result == {
        "payments.limit": Resolved(600, "institution", at(20), 4),
        "third": Resolved("x", "default", None, 2),
    }


def test_resolve_all__naive_at__refused():
    with pytest.raises(ConfigError):
        resolution.resolve_all([], None, datetime(2026, 1, 1))


# ----------------------------------------------------------------- next change


def test_next_change_after__timeline__earliest_later_instant():
    assert next_change_after(TIMELINE, at(5)) == at(10)
    assert next_change_after(TIMELINE, at(-1)) == at(0)
    assert next_change_after(TIMELINE, at(25)) == at(30)


def test_next_change_after__nothing_later__none():
    assert next_change_after(TIMELINE, at(30)) is None
    assert next_change_after([], at(0)) is None


def test_next_change_after__naive_at__refused():
    with pytest.raises(ConfigError, match="time zone"):
        next_change_after(TIMELINE, datetime(2026, 1, 1))


# -------------------------------------------------------------- serialisation


def test_resolved_to_dict__row_value__rfc3339_z():
    plus_one = timezone(timedelta(hours=1))
    resolved = Resolved(5, "global", datetime(2026, 12, 24, 14, 0, tzinfo=plus_one), 2)
    assert resolution.resolved_to_dict(resolved, mask=False) == {
        "value": 5,
        "source": "global",
        "effective_from": "2026-12-24T13:00:00Z",
        "version": 2,
    }


def test_resolved_to_dict__default__null_effective_from():
    assert (
        resolution.resolved_to_dict(Resolved("x", "default", None, 1), mask=False)["effective_from"]
        is None
    )


def test_resolved_to_dict__mask__value_hidden():
    result = resolution.resolved_to_dict(Resolved({"secret": 1}, "institution", T0, 1), mask=True)
    assert result["value"] == "********"
    assert result["source"] == "institution"


# ---------------------------------------------------------------- type rules


@pytest.mark.parametrize(
    ("value_type", "value"),
    [
        ("string", ""),
        ("string", "hello"),
        ("integer", 0),
        ("integer", -5),
        ("integer", 10**30),
        ("decimal", "1000000.00"),
        ("decimal", "-0.5"),
        ("decimal", "7"),
        ("boolean", True),
        ("boolean", False),
        ("json", {"a": [1, 2.5, "x", None, True]}),
        ("json", [1, 2]),
        ("json", "text"),
        ("json", 3),
        ("json", 1.25),
        ("json", False),
    ],
)
def test_validate_value__right_type__returned_unchanged(value_type, value):
    result = validate_value(value_type, None, value)
    assert result == value
    assert type(result) is type(value)


def test_validate_value__decimal_many_digits__keeps_every_digit():
    text = "12345678901234567890.123456789"
    assert validate_value("decimal", None, text) == text


@pytest.mark.parametrize(
    ("value_type", "value", "message"),
    [
        ("integer", "1", "expected an integer, got a string"),
        ("integer", True, "expected an integer, got a boolean"),
        ("integer", 1.5, "1.5 is not an integer"),
        ("integer", 2.0, "2.0 is not an integer"),
        ("integer", [1], "expected an integer, got an array"),
        ("string", 1, "expected a string, got an integer"),
        ("string", {"a": 1}, "expected a string, got an object"),
        ("boolean", "true", "expected a boolean, got a string"),
        ("boolean", 1, "expected a boolean, got an integer"),
        ("decimal", 1.5, 'decimal values must be JSON strings such as "1000000.00", got a number'),
        ("decimal", 100, 'decimal values must be JSON strings such as "1000000.00", got a number'),
        ("decimal", True, "got a boolean"),
        ("decimal", "NaN", "decimal values must be finite numbers"),
        ("decimal", "Infinity", "decimal values must be finite numbers"),
        ("decimal", "-inf", "decimal values must be finite numbers"),
        ("decimal", "abc", '"abc" is not a decimal number'),
        ("decimal", "1e5", '"1e5" is not a decimal number'),
        ("decimal", "", '"" is not a decimal number'),
        ("decimal", " 1.0", "is not a decimal number"),
        ("decimal", "1.", "is not a decimal number"),
        ("decimal", ".5", "is not a decimal number"),
        ("decimal", "1,000", "is not a decimal number"),
        ("decimal", "\u0663", "is not a decimal number"),  # Arabic-Indic digit three
        ("json", float("nan"), "is not a valid JSON number"),
        ("json", {1: "a"}, "JSON object keys must be strings"),
        ("json", {1, 2}, "expected a JSON value, got set"),
    ],
)
def test_validate_value__wrong_type__refused_with_message(value_type, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_value(value_type, None, value)


@pytest.mark.parametrize("value_type", VALUE_TYPES)
def test_validate_value__none__value_required(value_type):
    with pytest.raises(ConfigError, match="^a value is required$"):
        validate_value(value_type, None, None)


def test_validate_value__unknown_type__refused():
    with pytest.raises(ConfigError, match="unknown value type"):
        validate_value("float", None, 1.0)


def test_validate_value__deeply_nested_json__no_recursion_error():
    value: list = []
    for _ in range(5000):
        value = [value]
    assert validate_value("json", None, value) is value


def test_validate_value__message_is_one_line():
    with pytest.raises(ConfigError) as info:
        validate_value("string", {"maxLength": 1}, "a\nb\nc")
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------- schemas


def test_validate_value__above_schema_maximum__names_problem():
    with pytest.raises(ConfigError) as info:
        validate_value("integer", {"maximum": 3}, 5)
    assert str(info.value) == "value does not match the schema: 5 is greater than the maximum of 3"


def test_validate_value__nested_schema_failure__names_path():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"type": "integer"}}},
    }
    with pytest.raises(ConfigError, match=re.escape("at /a/1: 'x' is not of type 'integer'")):
        validate_value("json", schema, {"a": [1, "x"]})


def test_validate_value__satisfies_schema__returned():
    assert validate_value("integer", {"minimum": 0, "maximum": 3}, 3) == 3


def test_validate_value__decimal_schema__applies_to_string_form():
    schema = {"type": "string", "pattern": r"^\d+\.\d{2}$"}
    assert validate_value("decimal", schema, "10.00") == "10.00"
    with pytest.raises(ConfigError, match="does not match the schema"):
        validate_value("decimal", schema, "10.0")


def test_validate_value__format_in_schema__enforced():
    with pytest.raises(ConfigError, match="does not match the schema"):
        validate_value("string", {"format": "email"}, "not-an-email")
    assert validate_value("string", {"format": "email"}, "a@example.com") == "a@example.com"


def test_validate_value__equal_schemas_any_key_order__both_work():
    assert validate_value("integer", {"minimum": 0, "maximum": 3}, 1) == 1
    assert validate_value("integer", {"maximum": 3, "minimum": 0}, 1) == 1


def test_validate_schema__none__accepted():
    assert validate_schema(None) is None


def test_validate_schema__valid__returned():
    schema = {"type": "object", "properties": {"n": {"$ref": "#/$defs/n"}}, "$defs": {"n": {}}}
    assert validate_schema(schema) is schema


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([], "the schema must be a JSON object or null, got an array"),
        ("string", "the schema must be a JSON object or null, got a string"),
        ({"type": "nope"}, "not a valid JSON Schema (draft 2020-12) at /type"),
        ({"minimum": "3"}, "not a valid JSON Schema (draft 2020-12) at /minimum"),
        ({"pattern": "("}, "not a valid JSON Schema (draft 2020-12) at /pattern"),
        ({"x": float("nan")}, "the schema is not valid JSON"),
        ({"$ref": "#/$defs/missing"}, 'refers to "#/$defs/missing", which is not defined'),
        ({"$ref": "https://example.com/s.json"}, "remote references are not fetched"),
        ({"$ref": "#"}, "endless loop of $ref"),
    ],
)
def test_validate_schema__invalid__refused_with_reason(schema, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_schema(schema)


def test_validate_value__invalid_schema__refused_not_crash():
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        validate_value("integer", {"type": 12}, 1)


# ------------------------------------------------------------------ defaults


def test_validate_default__none__means_no_default():
    assert validate_default("integer", {"maximum": 3}, None) is None


def test_validate_default__valid__returned():
    assert validate_default("decimal", None, "1.50") == "1.50"


def test_validate_default__failing_schema__refused():
    with pytest.raises(ConfigError) as info:
        validate_default("integer", {"maximum": 3}, 5)
    assert (
        str(info.value) == "default does not satisfy the schema: 5 is greater than the maximum of 3"
    )


def test_validate_default__wrong_type__refused():
    with pytest.raises(ConfigError) as info:
        validate_default("integer", None, "5")
    assert (
        str(info.value)
        == "default does not satisfy the type integer: expected an integer, got a string"
    )


# ---------------------------------------------------------- property: oracle

INSTITUTIONS = [None, "A", "B"]


def oracle(definition, rows, institution, moment):
    """Independent statement of the contract: filter, sort, take the last."""

    def latest(scope):
        eligible = [r for r in rows if r.institution == scope and r.effective_from <= moment]
        eligible.sort(key=lambda r: r.effective_from)
        return eligible[-1] if eligible else None

    if institution is not None:
        own = latest(institution)
        if own is not None:
            return ("institution", own.value, own.effective_from, own.version)
    shared = latest(None)
    if shared is not None:
        return ("global", shared.value, shared.effective_from, shared.version)
    if definition.default is None:
        return None
    return ("default", definition.default, None, definition.version)


@st.composite
def timelines(draw):
    # (institution, effective_from) is unique in storage, so draw distinct minutes per scope.
    rows = []
    for scope in INSTITUTIONS:
        minutes = draw(st.sets(st.integers(0, 500), max_size=6))
        for minute in minutes:
            rows.append(
                ValueRow(
                    scope,
                    draw(st.integers(-1000, 1000)),
                    T0 + timedelta(minutes=minute),
                    draw(st.integers(1, 50)),
                    id=len(rows) + 1,
                )
            )
    return draw(st.permutations(rows))


@settings(max_examples=200, deadline=None)
@given(
    rows=timelines(),
    institution=st.sampled_from(INSTITUTIONS + ["C"]),
    minute=st.integers(-10, 510),
    default=st.one_of(st.none(), st.integers()),
)
def test_resolve__random_timelines__matches_oracle(rows, institution, minute, default):
    definition = Definition(key="k", value_type="integer", default=default, version=7)
    moment = T0 + timedelta(minutes=minute)
    expected = oracle(definition, rows, institution, moment)
    got = resolve(definition, rows, institution, moment)
    if expected is None:
        assert got is None
    else:
        assert (got.source, got.value, got.effective_from, got.version) == expected


@settings(max_examples=200, deadline=None)
@given(rows=timelines(), minute=st.integers(-10, 510))
def test_next_change_after__random_timelines__matches_oracle(rows, minute):
    moment = T0 + timedelta(minutes=minute)
    later = sorted(r.effective_from for r in rows if r.effective_from > moment)
    assert next_change_after(rows, moment) == (later[0] if later else None)


@settings(max_examples=200, deadline=None)
@given(
    whole=st.integers(-(10**30), 10**30),
    fraction=st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=30)),
)
def test_validate_value__random_decimal_strings__round_trip_exactly(whole, fraction):
    text = str(whole) if fraction is None else f"{whole}.{fraction}"
    assert validate_value("decimal", None, text) == text
