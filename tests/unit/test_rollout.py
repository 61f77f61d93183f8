"""Unit tests for flags.rollout (pure, no Django)."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flags.rollout import (
    ENVIRONMENTS,
    Evaluation,
    FlagConfigError,
    FlagRule,
    bucket,
    evaluate,
    parse_flag_overrides,
    rollout_share,
    validate_environment_overrides,
    validate_rollout_percent,
)

CODES = [f"INST{n:04d}" for n in range(1000)]


def contract_bucket(flag: str, institution: str) -> float:
    """The contract's formula, written out again independently of the module."""
    # Spelled exactly as in the contract, explicit encoding included.
    digest = hashlib.sha256(f"{flag}:{institution}".encode("utf-8")).hexdigest()  # noqa: UP012
    return int(digest[:8], 16) % 10000 / 100


def rule(**kwargs) -> FlagRule:
    fields = {"name": "new-ledger", "everyone": None, "rollout_percent": Decimal("0")}
    fields.update(kwargs)
    return FlagRule(**fields)


def split_institution(flag: str, *, below: float) -> str:
    """A code whose bucket for ``flag`` is below ``below`` (found by search, not assumed)."""
    return next(code for code in CODES if contract_bucket(flag, code) < below)


def default_institution(flag: str, *, at_least: float) -> str:
    return next(code for code in CODES if contract_bucket(flag, code) >= at_least)


# ---------------------------------------------------------------------- bucket


@pytest.mark.parametrize(
    ("flag", "institution"),
    [("new-ledger", "BANK001"), ("instant-payments", "DE0001"), ("a", "b"), ("ü-flag", "ÉCOLE")],
)
def test_bucket__fixed_pairs__equals_contract_formula(flag, institution):
    assert bucket(flag, institution) == contract_bucket(flag, institution)


@pytest.mark.parametrize(
    ("flag", "institution", "expected"),
    [("new-ledger", "BANK001", 48.89), ("instant-payments", "DE0001", 84.34), ("a", "b", 2.22)],
)
def test_bucket__pinned_values__unchanged(flag, institution, expected):
    # Computed once; a change here would silently move institutions between buckets.
    assert bucket(flag, institution) == expected


def test_bucket__many_codes__within_0_and_100():
    assert all(0 <= bucket("f", code) < 100 for code in CODES)


def test_rollout_share__25_percent_of_1000_codes__between_22_and_28_percent():
    share = rollout_share(rule(rollout_percent=Decimal("25")), CODES)
    assert 0.22 <= share <= 0.28


@settings(max_examples=200, deadline=None)
@given(
    flag=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    institution=st.text(min_size=1, max_size=20),
    low=st.integers(0, 1000),
    high=st.integers(0, 1000),
)
def test_evaluate__raising_percent__never_turns_institution_off(flag, institution, low, high):
    low, high = sorted((low, high))
    before = evaluate(
        rule(name=flag, rollout_percent=Decimal(low) / 10), institution, "production", {}
    )
    after = evaluate(
        rule(name=flag, rollout_percent=Decimal(high) / 10), institution, "production", {}
    )
    assert not before.enabled or after.enabled


@settings(max_examples=200, deadline=None)
@given(institution=st.text(min_size=1, max_size=20), tenths=st.integers(0, 1000))
def test_evaluate__split__matches_exact_bucket_comparison(institution, tenths):
    percent = Decimal(tenths) / 10
    result = evaluate(rule(rollout_percent=percent), institution, "production", {})
    # Independent exact check: bucket k/100 < p  ⇔  k < 100p with integers.
    k = round(contract_bucket("new-ledger", institution) * 100)
    assert result.enabled == (k < tenths * 10)
    assert result.reason == ("SPLIT" if result.enabled else "DEFAULT")


def test_evaluate__bucket_equal_to_percent__off():
    code = CODES[0]
    exact = Decimal(str(contract_bucket("f", code)))
    # The boundary is strict: bucket < percent.
    assert evaluate(rule(name="f", rollout_percent=exact), code, "production", {}).enabled is False


# ---------------------------------------------------------------- evaluation


def test_evaluate__static_override_on__static_wins_over_everything():
    flag = rule(everyone=False, environment_overrides={"production": False})
    assert evaluate(flag, "X", "production", {"new-ledger": True}) == Evaluation(True, "STATIC")


def test_evaluate__static_override_off__static_even_when_targeted():
    flag = rule(everyone=True, institutions=frozenset({"X"}), rollout_percent=Decimal(100))
    assert evaluate(flag, "X", "production", {"new-ledger": False}) == Evaluation(False, "STATIC")


def test_evaluate__static_override_other_flag__ignored():
    assert evaluate(rule(), "X", "production", {"other": True}) == Evaluation(False, "DEFAULT")


def test_evaluate__environment_override__static_over_everyone():
    flag = rule(everyone=True, environment_overrides={"production": False, "staging": True})
    assert evaluate(flag, "X", "production", {}) == Evaluation(False, "STATIC")
    assert evaluate(
        rule(environment_overrides={"staging": True}), "X", "staging", {}
    ) == Evaluation(True, "STATIC")


def test_evaluate__environment_override_for_other_environment__ignored():
    flag = rule(environment_overrides={"staging": True})
    assert evaluate(flag, "X", "production", {}) == Evaluation(False, "DEFAULT")


def test_evaluate__everyone_true__static_on():
    assert evaluate(rule(everyone=True), "X", "development", {}) == Evaluation(True, "STATIC")


def test_evaluate__everyone_false__static_off_even_when_targeted():
    flag = rule(everyone=False, institutions=frozenset({"X"}), rollout_percent=Decimal(100))
    assert evaluate(flag, "X", "development", {}) == Evaluation(False, "STATIC")


def test_evaluate__targeted_institution__targeting_match():
    flag = rule(institutions=frozenset({"X", "Y"}))
    assert evaluate(flag, "X", "production", {}) == Evaluation(True, "TARGETING_MATCH")


def test_evaluate__institutions_as_list__coerced_to_frozenset():
    flag = rule(institutions=["X"])
    assert flag.institutions == frozenset({"X"})
    assert evaluate(flag, "X", "production", {}).reason == "TARGETING_MATCH"


def test_evaluate__bucket_below_percent__split_on():
    code = split_institution("new-ledger", below=50)
    assert evaluate(rule(rollout_percent=Decimal(50)), code, "production", {}) == Evaluation(
        True, "SPLIT"
    )


def test_evaluate__bucket_at_or_above_percent__default_off():
    code = default_institution("new-ledger", at_least=50)
    assert evaluate(rule(rollout_percent=Decimal(50)), code, "production", {}) == Evaluation(
        False, "DEFAULT"
    )


def test_evaluate__zero_and_hundred_percent__none_and_all():
    assert not any(evaluate(rule(), c, "production", {}).enabled for c in CODES[:200])
    full = rule(rollout_percent=Decimal(100))
    assert all(
        evaluate(full, c, "production", {}) == Evaluation(True, "SPLIT") for c in CODES[:200]
    )


def test_evaluate__no_static_overrides_argument__allowed():
    assert evaluate(rule(everyone=True), "X", "production") == Evaluation(True, "STATIC")


def test_rollout_share__ignores_overrides_and_counts_targeting():
    flag = rule(environment_overrides={"production": True}, institutions=frozenset({"A", "B"}))
    # 0% rollout and the environment override ignored: only the two targeted codes count.
    assert rollout_share(flag, ["A", "B", "C", "D"]) == 0.5
    assert rollout_share(rule(everyone=True), ["A", "B"]) == 1.0
    assert rollout_share(rule(everyone=False, institutions=frozenset({"A"})), ["A"]) == 0.0


def test_rollout_share__empty_or_duplicates__handled():
    assert rollout_share(rule(everyone=True), []) == 0.0
    assert rollout_share(rule(institutions=frozenset({"A"})), ["A", "A", "B"]) == 0.5


# ---------------------------------------------------------- CBP_FLAG_OVERRIDES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("   ", {}),
        ("a=on", {"a": True}),
        ("name=on,other=off", {"name": True, "other": False}),
        (" name = on , other= OFF ", {"name": True, "other": False}),
        ("a=true,b=FALSE,c=1,d=0", {"a": True, "b": False, "c": True, "d": False}),
        ("new-ledger=On,x_1=oFf,", {"new-ledger": True, "x_1": False}),
    ],
)
def test_parse_flag_overrides__good_input__parsed(text, expected):
    assert parse_flag_overrides(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "entry 'a' must look like name=on or name=off"),
        ("a=on,b", "entry 'b' must look like"),
        ("a=yes", "state 'yes' is not one of"),
        ("a=", "state '' is not one of"),
        ("=on", "'' is not a valid flag name"),
        ("Flag=on", "'Flag' is not a valid flag name"),
        ("-a=on", "'-a' is not a valid flag name"),
        ("a b=on", "'a b' is not a valid flag name"),
        ("x" * 101 + "=on", "is not a valid flag name"),
        ("a=on,a=off", "names flag 'a' more than once"),
        ("a=on=off", "state 'on=off' is not one of"),
    ],
)
def test_parse_flag_overrides__bad_input__refused_naming_entry(text, message):
    with pytest.raises(FlagConfigError, match=re.escape(message)) as info:
        parse_flag_overrides(text)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------- validators


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Decimal("0.0")),
        (100, Decimal("100.0")),
        ("12.5", Decimal("12.5")),
        (Decimal("12.5"), Decimal("12.5")),
        (12.5, Decimal("12.5")),
        (Decimal("12.50"), Decimal("12.5")),
        (" 7 ", Decimal("7.0")),
        ("0.1", Decimal("0.1")),
    ],
)
def test_validate_rollout_percent__valid__decimal_one_place(value, expected):
    result = validate_rollout_percent(value)
    assert result == expected
    assert result.as_tuple().exponent == -1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (101, "between 0 and 100"),
        (-1, "between 0 and 100"),
        ("100.1", "between 0 and 100"),
        (12.34, "at most one decimal place"),
        ("12.34", "at most one decimal place"),
        ("abc", "is not a number"),
        ("", "is not a number"),
        (True, "got a boolean"),
        (float("nan"), "finite"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        (None, "must be a number"),
        ([5], "must be a number"),
    ],
)
def test_validate_rollout_percent__invalid__refused(value, message):
    with pytest.raises(FlagConfigError, match=message):
        validate_rollout_percent(value)


def test_validate_environment_overrides__valid__copied():
    given_overrides = {"staging": True, "production": False}
    result = validate_environment_overrides(given_overrides)
    assert result == given_overrides
    assert result is not given_overrides
    assert validate_environment_overrides({}) == {}


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "must be an object"),
        (None, "must be an object"),
        ({"prod": True}, "'prod' is not an environment"),
        ({"staging": "yes"}, "'staging' must be true or false"),
        ({"staging": 1}, "'staging' must be true or false"),
        ({"staging": None}, "'staging' must be true or false"),
    ],
)
def test_validate_environment_overrides__invalid__refused(obj, message):
    with pytest.raises(FlagConfigError, match=message):
        validate_environment_overrides(obj)


def test_environments__listed__match_contract():
    assert ENVIRONMENTS == ("development", "staging", "production")
