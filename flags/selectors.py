"""Every read of flags: the API's querysets, evaluation for an institution, the admin's share.

Evaluation reads the compiled flag set through flags.cache (one cache round trip, no query
when the process's copy is current) and calls the pure flags.rollout module.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Prefetch, QuerySet

from configuration.models import Institution
from flags import cache as flag_cache
from flags import rollout
from flags.models import Flag


class UnknownInstitution(LookupError):
    """No institution has this code."""


class FlagNotFound(LookupError):
    """No flag has this name."""


# Answers memoised per compiled flag set (so per generation), one per institution (and
# environment/overrides setting); bounded so a process stays small (each entry holds the
# results and their rendered JSON, a few kB for 50 flags).
MEMO_MAX_ENTRIES = 5000


CODE_MAX_LENGTH = Institution._meta.get_field("code").max_length or 11


class KnownInstitutions:
    """Whether an institution code exists, asked of the database once per code for the life
    of one compiled flag set (its token changes when an institution is created or deleted:
    flags/signals.py). Loading every code up front made a cold evaluation grow with the
    number of institutions (3 ms at 10, 7.6 ms at 10,000)."""

    MAX_ENTRIES = 20000

    def __init__(self) -> None:
        self._known: dict[str, bool] = {}

    def __contains__(self, code: object) -> bool:
        # No stored code is longer than the column or holds U+0000 (which PostgreSQL cannot
        # even compare: a DataError): such a code is unknown without asking, and not kept.
        if not isinstance(code, str) or len(code) > CODE_MAX_LENGTH or "\x00" in code:
            return False
        known = self._known.get(code)
        if known is None:
            known = Institution.objects.filter(code=code).exists()
            if len(self._known) >= self.MAX_ENTRIES:
                self._known.clear()
            self._known[code] = known
        return known


@dataclass(frozen=True)
class FlagSet:
    """Every flag's rules, compiled for evaluation, and which institution codes exist.

    `memo` keeps each institution's answer for the life of this compiled set: evaluation is
    deterministic, so the hot read costs a dictionary lookup after the first request."""

    rules: tuple[rollout.FlagRule, ...]  # ordered by name
    by_name: Mapping[str, rollout.FlagRule]
    institutions: Container[str]  # KnownInstitutions (a set of codes in tests)
    index: Mapping[str, int] = field(default_factory=dict)  # name -> position in `rules`
    memo: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class FlagResult:
    name: str
    enabled: bool
    reason: str
    version: int

    @property
    def variant(self) -> str:
        return "on" if self.enabled else "off"


@dataclass(frozen=True, eq=False)
class InstitutionEvaluation:
    """Every flag for one institution in this deployment's environment.

    Memoised (see FlagSet.memo): `pairs` is the stable batch identity for the metrics, and
    `rendered` lets the API keep the shapes it derives from this answer (one per kind)."""

    institution: str
    environment: str
    results: tuple[FlagResult, ...]
    pairs: tuple[tuple[str, bool], ...] = field(default=(), repr=False)
    rendered: dict = field(default_factory=dict, repr=False)

    def render(self, kind: str, build):
        """`build(self)`, computed once per kind for this (memoised) answer."""
        value = self.rendered.get(kind)
        if value is None:
            value = self.rendered[kind] = build(self)
        return value


# -- settings read at call time ---------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _parse_overrides(raw: str) -> Mapping[str, bool]:
    return MappingProxyType(rollout.parse_flag_overrides(raw))


def parse_static_overrides(raw: str | None) -> Mapping[str, bool]:
    """Parse CBP_FLAG_OVERRIDES, raising ImproperlyConfigured with a one-line reason."""
    try:
        return _parse_overrides(raw or "")
    except rollout.FlagConfigError as exc:
        message = str(exc).removeprefix("CBP_FLAG_OVERRIDES").lstrip(": ")
        raise ImproperlyConfigured(f"CBP_FLAG_OVERRIDES: {message}") from None


def static_overrides() -> Mapping[str, bool]:
    """The deployment's CBP_FLAG_OVERRIDES, parsed (cached by the raw string, so a settings
    override in tests takes effect at once). Validated at start-up by FlagsConfig.ready()."""
    return parse_static_overrides(getattr(settings, "CBP_FLAG_OVERRIDES", ""))


def environment() -> str:
    return settings.CBP_ENVIRONMENT


# -- the compiled flag set --------------------------------------------------------------------


def _overrides_of(stored: object) -> dict[str, bool]:
    # Rows are validated on write; be lenient with anything stored behind the services' back
    # rather than fail every evaluation.
    if not isinstance(stored, Mapping):
        return {}
    return {
        env: state
        for env, state in stored.items()
        if env in rollout.ENVIRONMENTS and isinstance(state, bool)
    }


def load_flag_set() -> FlagSet:
    """Compile every flag from the database (two queries, whatever the number of flags or
    institutions; an institution's existence is asked when it is first evaluated)."""
    targets: dict[int, set[str]] = defaultdict(set)
    through = Flag.institutions.through
    for flag_id, code in through.objects.values_list("flag_id", "institution__code"):
        targets[flag_id].add(code)
    rules = tuple(
        rollout.FlagRule(
            name=name,
            everyone=everyone,
            rollout_percent=percent if percent is not None else Decimal(0),
            institutions=frozenset(targets.get(pk, ())),
            environment_overrides=MappingProxyType(_overrides_of(overrides)),
            version=version,
        )
        for pk, name, everyone, percent, overrides, version in Flag.objects.order_by(
            "name"
        ).values_list(
            "pk", "name", "everyone", "rollout_percent", "environment_overrides", "version"
        )
    )
    return FlagSet(
        rules=rules,
        by_name=MappingProxyType({rule.name: rule for rule in rules}),
        institutions=KnownInstitutions(),
        index=MappingProxyType({rule.name: i for i, rule in enumerate(rules)}),
    )


def flag_set() -> FlagSet:
    """The compiled flag set: this process's copy when current, else loaded from the DB."""
    return flag_cache.get_or_build(load_flag_set)


# -- evaluation -------------------------------------------------------------------------------


def _result(
    rule: rollout.FlagRule, code: str, env: str, overrides: Mapping[str, bool]
) -> FlagResult:
    evaluation = rollout.evaluate(rule, code, env, overrides)
    return FlagResult(rule.name, evaluation.enabled, evaluation.reason, rule.version)


def evaluate_institution(code: str) -> InstitutionEvaluation:
    """Every flag for the institution `code`; UnknownInstitution if there is none."""
    return _evaluate_in(flag_set(), code)


def _evaluate_in(flags: FlagSet, code: str) -> InstitutionEvaluation:
    env = environment()
    raw_overrides = getattr(settings, "CBP_FLAG_OVERRIDES", "") or ""
    key = (code, env, raw_overrides)
    hit = flags.memo.get(key)
    if hit is not None:
        return hit
    if code not in flags.institutions:
        raise UnknownInstitution(code)
    overrides = parse_static_overrides(raw_overrides)
    results = tuple(_result(rule, code, env, overrides) for rule in flags.rules)
    evaluation = InstitutionEvaluation(
        institution=code,
        environment=env,
        results=results,
        pairs=tuple((r.name, r.enabled) for r in results),
    )
    if len(flags.memo) >= MEMO_MAX_ENTRIES:
        flags.memo.clear()
    flags.memo[key] = evaluation
    return evaluation


def evaluate_flag(name: str, code: str) -> FlagResult:
    """One flag for one institution; FlagNotFound or UnknownInstitution (checked in that
    order)."""
    flags = flag_set()
    if name not in flags.by_name:
        raise FlagNotFound(name)
    evaluation = _evaluate_in(flags, code)
    return evaluation.results[flags.index[name]]


# -- API and admin reads ----------------------------------------------------------------------


def flag_queryset() -> QuerySet[Flag]:
    """Flags for the API, with their institutions' codes in one extra query."""
    return Flag.objects.prefetch_related(
        Prefetch("institutions", queryset=Institution.objects.only("id", "code").order_by("code"))
    ).order_by("name")


def rule_of(flag: Flag) -> rollout.FlagRule:
    """A stored flag as the pure module's rule (its institutions read from the database)."""
    return rollout.FlagRule(
        name=flag.name,
        everyone=flag.everyone,
        rollout_percent=flag.rollout_percent if flag.rollout_percent is not None else Decimal(0),
        institutions=frozenset(flag.institutions.values_list("code", flat=True)),
        environment_overrides=_overrides_of(flag.environment_overrides),
        version=flag.version,
    )


def rollout_share_of_active(flag: Flag) -> tuple[float, int]:
    """The share (0..1) of active institutions the flag's own rules turn on, before
    environment and deployment overrides, and the number of active institutions."""
    codes = list(Institution.objects.filter(is_active=True).values_list("code", flat=True))
    return rollout.rollout_share(rule_of(flag), codes), len(codes)
