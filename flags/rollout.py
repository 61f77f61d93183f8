"""Feature-flag evaluation for an institution: overrides, targeting and percentage rollout.

Pure functions with no Django dependency (stdlib only) implementing the contract
(``shared/API.md``, "Feature flags"); the waffle-backed API builds a :class:`FlagRule` from the
stored flag and calls :func:`evaluate`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

__all__ = [
    "ENVIRONMENTS",
    "FLAG_NAME_PATTERN",
    "REASON_DEFAULT",
    "REASON_SPLIT",
    "REASON_STATIC",
    "REASON_TARGETING_MATCH",
    "REASONS",
    "Evaluation",
    "FlagConfigError",
    "FlagRule",
    "bucket",
    "evaluate",
    "parse_flag_overrides",
    "rollout_share",
    "validate_environment_overrides",
    "validate_rollout_percent",
]

ENVIRONMENTS = ("development", "staging", "production")

REASON_STATIC: Final = "STATIC"
REASON_TARGETING_MATCH: Final = "TARGETING_MATCH"
REASON_SPLIT: Final = "SPLIT"
REASON_DEFAULT: Final = "DEFAULT"
REASONS = (REASON_STATIC, REASON_TARGETING_MATCH, REASON_SPLIT, REASON_DEFAULT)
Reason = Literal["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT"]

FLAG_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")

_ON_STATES = {"on", "true", "1"}
_OFF_STATES = {"off", "false", "0"}
_BUCKETS = 10000  # bucket() is k / 100 for an integer k in [0, 10000)
_ONE_PLACE = Decimal("0.1")


class FlagConfigError(ValueError):
    """Bad flag configuration; ``str(error)`` is one line naming the bad entry."""


@dataclass(frozen=True)
class FlagRule:
    """The stored rules of one flag (everything :func:`evaluate` needs)."""

    name: str
    everyone: bool | None = None
    rollout_percent: Decimal = Decimal(0)
    institutions: frozenset[str] = frozenset()
    environment_overrides: Mapping[str, bool] = field(default_factory=dict)
    version: int = 1

    def __post_init__(self) -> None:
        # Accept any iterable of codes (a list from the ORM) but keep the rule immutable.
        if not isinstance(self.institutions, frozenset):
            object.__setattr__(self, "institutions", frozenset(self.institutions))


@dataclass(frozen=True)
class Evaluation:
    """The state of a flag for one institution and why."""

    enabled: bool
    reason: Reason


def bucket(flag_name: str, institution_code: str) -> float:
    """The contract's rollout bucket of an institution for a flag, a number in ``[0, 100)``."""
    return _bucket_units(flag_name, institution_code) / 100


def _bucket_units(flag_name: str, institution_code: str) -> int:
    """``bucket() * 100`` as the exact integer it is (0..9999)."""
    digest = hashlib.sha256(f"{flag_name}:{institution_code}".encode()).hexdigest()
    return int(digest[:8], 16) % _BUCKETS


def evaluate(
    rule: FlagRule,
    institution_code: str,
    environment: str,
    static_overrides: Mapping[str, bool] | None = None,
) -> Evaluation:
    """Evaluate ``rule`` for an institution in an environment; the first rule that applies wins.

    1. ``static_overrides`` (parsed ``CBP_FLAG_OVERRIDES``) names the flag → ``STATIC``;
    2. ``environment_overrides[environment]`` is set → ``STATIC``;
    3. ``everyone`` is true or false → ``STATIC``;
    4. the institution is targeted → on, ``TARGETING_MATCH``;
    5. its bucket is below ``rollout_percent`` → on, ``SPLIT``; otherwise off, ``DEFAULT``.
    """
    if static_overrides and rule.name in static_overrides:
        return Evaluation(bool(static_overrides[rule.name]), REASON_STATIC)
    environment_state = rule.environment_overrides.get(environment)
    if environment_state is not None:
        return Evaluation(bool(environment_state), REASON_STATIC)
    return _evaluate_rules(rule, institution_code)


def _evaluate_rules(rule: FlagRule, institution_code: str) -> Evaluation:
    """Rules 3-5: the flag's own settings, without deployment overrides."""
    if rule.everyone is not None:
        return Evaluation(bool(rule.everyone), REASON_STATIC)
    if institution_code in rule.institutions:
        return Evaluation(True, REASON_TARGETING_MATCH)
    # Compare integers, not floats: bucket is k/100 and the percent has one decimal
    # place, so k < percent * 100 is exact where a float comparison could round.
    if _bucket_units(rule.name, institution_code) < _as_decimal(rule.rollout_percent) * 100:
        return Evaluation(True, REASON_SPLIT)
    return Evaluation(False, REASON_DEFAULT)


def _as_decimal(percent: Decimal | int | float | str) -> Decimal:
    if isinstance(percent, Decimal):
        return percent
    # str() of a float is its shortest round-trip form: 12.5 → "12.5", not 12.4999…
    return Decimal(str(percent))


def rollout_share(rule: FlagRule, institution_codes: Iterable[str]) -> float:
    """Share (0..1) of the distinct given institutions that rules 3-5 turn on.

    Static and environment overrides are ignored: this describes the flag's own rollout,
    for the admin's "share of active institutions". An empty list gives 0.0.
    """
    codes = set(institution_codes)
    if not codes:
        return 0.0
    enabled = sum(1 for code in codes if _evaluate_rules(rule, code).enabled)
    return enabled / len(codes)


def parse_flag_overrides(text: str | None) -> dict[str, bool]:
    """Parse ``CBP_FLAG_OVERRIDES`` (``"name=on,other=off"``) into ``{name: state}``.

    Whitespace around names, states and commas is ignored, as are empty entries (a trailing
    comma). States are ``on``/``off``, ``true``/``false`` or ``1``/``0``, in any case. A name
    given twice, a malformed name or an unknown state raises :class:`FlagConfigError`.
    """
    overrides: dict[str, bool] = {}
    if text is None:
        return overrides
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, state = (part.strip() for part in entry.partition("="))
        if not sep:
            raise FlagConfigError(
                f"CBP_FLAG_OVERRIDES entry {entry!r} must look like name=on or name=off"
            )
        if not FLAG_NAME_PATTERN.fullmatch(name):
            raise FlagConfigError(
                f"CBP_FLAG_OVERRIDES entry {entry!r}: {name!r} is not a valid flag name "
                f"(pattern {FLAG_NAME_PATTERN.pattern})"
            )
        lowered = state.lower()
        if lowered in _ON_STATES:
            enabled = True
        elif lowered in _OFF_STATES:
            enabled = False
        else:
            raise FlagConfigError(
                f"CBP_FLAG_OVERRIDES entry {entry!r}: state {state!r} is not one of "
                "on/off, true/false, 1/0"
            )
        if name in overrides:
            raise FlagConfigError(f"CBP_FLAG_OVERRIDES names flag {name!r} more than once")
        overrides[name] = enabled
    return overrides


def validate_rollout_percent(value: object) -> Decimal:
    """Return ``value`` as a Decimal with one decimal place if it is 0..100 with at most one.

    Accepts int, str, Decimal, and a float whose shortest form has at most one decimal
    place (``12.5``); refuses booleans, NaN, infinities, more decimals (``12.34``) and
    values outside 0..100.
    """
    if isinstance(value, bool):
        raise FlagConfigError(f"rollout_percent must be a number, got a boolean ({value})")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FlagConfigError(f"rollout_percent must be a finite number, got {value!r}")
        text = str(value)
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise FlagConfigError(f"rollout_percent must be a number, got {type(value).__name__}")
    try:
        percent = Decimal(text)
    except InvalidOperation as exc:
        raise FlagConfigError(f"rollout_percent {value!r} is not a number") from exc
    if not percent.is_finite():
        raise FlagConfigError(f"rollout_percent must be a finite number, got {value!r}")
    if not 0 <= percent <= 100:
        raise FlagConfigError(f"rollout_percent must be between 0 and 100, got {value!r}")
    # By value, not by notation: "12.50" is 12.5 and fine; "12.34" is not.
    if percent * 10 != (percent * 10).to_integral_value():
        raise FlagConfigError(f"rollout_percent has at most one decimal place, got {value!r}")
    return percent.quantize(_ONE_PLACE)


def validate_environment_overrides(obj: object) -> dict[str, bool]:
    """Return ``obj`` as a dict if its keys are among :data:`ENVIRONMENTS` and values bools."""
    if not isinstance(obj, Mapping):
        raise FlagConfigError(
            "environment_overrides must be an object such as "
            f'{{"staging": true, "production": false}}, got {type(obj).__name__}'
        )
    checked: dict[str, bool] = {}
    for key, state in obj.items():
        if key not in ENVIRONMENTS:
            raise FlagConfigError(
                f"environment_overrides: {key!r} is not an environment; use one of "
                + ", ".join(ENVIRONMENTS)
            )
        if not isinstance(state, bool):
            raise FlagConfigError(
                f"environment_overrides: {key!r} must be true or false, got {state!r}"
            )
        checked[key] = state
    return checked
