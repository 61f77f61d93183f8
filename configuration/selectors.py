"""Reads of configuration: rows for the pure resolver, and the cached resolved answers.

The resolved answers are served from the cache (configuration/cache.py) with one round trip
when warm; a miss costs a constant number of queries whatever the number of keys or
institutions (institution, definitions, the rows of that institution and the global rows).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from cbpconfig.api.etag import digest_etag
from configuration import cache, metrics
from configuration.models import Configuration, ConfigurationValue, Institution
from configuration.resolution import (
    Definition,
    Resolved,
    ValueRow,
    next_change_after,
    resolve,
    resolve_all,
    resolved_to_dict,
)

__all__ = [
    "Answer",
    "ResolvedSet",
    "UnknownConfiguration",
    "UnknownInstitution",
    "institution_configuration",
    "key_resolution",
    "resolve_institution_uncached",
    "resolve_key_uncached",
]


class UnknownInstitution(LookupError):
    """No institution has this code."""


class UnknownConfiguration(LookupError):
    """No configuration has this key."""


@dataclass(frozen=True)
class ResolvedSet:
    """Resolution of one or all keys at ``at``, with the interval ``[valid_from,
    valid_until)`` of instants for which the same answer holds (None = unbounded)."""

    resolved: dict[str, Resolved]
    sensitive: frozenset[str]
    valid_from: datetime | None
    valid_until: datetime | None


@dataclass(frozen=True)
class Answer:
    """A resolved answer ready to send: its ETag and JSON body (None = the key resolves to
    nothing), whether it came from the cache, and the first instant after the asked one at
    which the data make another answer (None: none scheduled)."""

    etag: str
    body: bytes | None
    hit: bool
    valid_until: datetime | None = None


def _encode(data) -> bytes:
    # The same bytes DRF's JSONRenderer would produce (compact, UTF-8).
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _digest(body: bytes | None) -> str:
    return hashlib.blake2b(body or b"", digest_size=16).hexdigest()


def _bounds(rows: list[ValueRow], at: datetime) -> tuple[datetime | None, datetime | None]:
    latest_past = None
    for row in rows:
        if row.effective_from <= at and (latest_past is None or row.effective_from > latest_past):
            latest_past = row.effective_from
    return latest_past, next_change_after(rows, at)


def _definition(config_row) -> Definition:
    _id, key, value_type, default, version, is_sensitive = config_row
    return Definition(
        key=key, value_type=value_type, default=default, version=version, is_sensitive=is_sensitive
    )


_CONFIG_COLUMNS = ("id", "key", "value_type", "default", "version", "is_sensitive")
_ROW_COLUMNS = ("configuration_id", "institution_id", "value", "effective_from", "version", "id")


def _value_rows(queryset, institution: Institution | None) -> dict[int, list[ValueRow]]:
    code = institution.code if institution is not None else None
    by_configuration: dict[int, list[ValueRow]] = {}
    for config_id, inst_id, value, effective_from, version, pk in queryset.values_list(
        *_ROW_COLUMNS
    ):
        by_configuration.setdefault(config_id, []).append(
            ValueRow(
                institution=code if inst_id is not None else None,
                value=value,
                effective_from=effective_from,
                version=version,
                id=pk,
            )
        )
    return by_configuration


def _scope_filter(institution: Institution | None) -> Q:
    if institution is None:
        return Q(institution__isnull=True)
    return Q(institution_id=institution.pk) | Q(institution__isnull=True)


def resolve_institution_uncached(*, institution: Institution, at: datetime) -> ResolvedSet:
    """Every key resolved for ``institution`` at ``at``, from the database (two queries)."""
    definitions = list(Configuration.objects.order_by("key").values_list(*_CONFIG_COLUMNS))
    rows = _value_rows(ConfigurationValue.objects.filter(_scope_filter(institution)), institution)
    pairs = [(_definition(d), rows.get(d[0], ())) for d in definitions]
    all_rows = [row for group in rows.values() for row in group]
    valid_from, valid_until = _bounds(all_rows, at)
    return ResolvedSet(
        resolved=resolve_all(pairs, institution.code, at),
        sensitive=frozenset(d[1] for d in definitions if d[5]),
        valid_from=valid_from,
        valid_until=valid_until,
    )


def resolve_key_uncached(
    *, configuration: Configuration, institution: Institution | None, at: datetime
) -> ResolvedSet:
    """One key resolved for ``institution`` (None: the global value) at ``at`` (one query)."""
    rows = _value_rows(
        ConfigurationValue.objects.filter(_scope_filter(institution), configuration=configuration),
        institution,
    ).get(configuration.pk, [])
    definition = Definition(
        key=configuration.key,
        value_type=configuration.value_type,
        default=configuration.default,
        version=configuration.version,
        is_sensitive=configuration.is_sensitive,
    )
    entry = resolve(definition, rows, institution.code if institution else None, at)
    valid_from, valid_until = _bounds(rows, at)
    return ResolvedSet(
        resolved={configuration.key: entry} if entry is not None else {},
        sensitive=frozenset([configuration.key]) if configuration.is_sensitive else frozenset(),
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _from_cache(keys: list[str], at: datetime) -> tuple[str | None, Answer | None]:
    generation, entries = cache.lookup(keys)
    for entry in entries:
        if entry is not None and entry.covers(generation, at):
            metrics.cache_result(True)
            return generation, Answer(entry.etag, entry.body, True, entry.valid_until)
    metrics.cache_result(False)
    return generation, None


def _remember(
    keys: list[str],
    explicit_at: bool,
    generation: str | None,
    result: ResolvedSet,
    etag: str,
    body: bytes | None,
    now: datetime,
) -> None:
    if generation is None:
        return  # the cache is unavailable: nothing stored can be trusted later
    entry = cache.Entry(generation, result.valid_from, result.valid_until, etag, body)
    if explicit_at:
        # The answer for a fixed instant only changes with the data (the generation).
        cache.store(keys[1:], entry, cache.MAX_TTL_SECONDS)
    else:
        until = result.valid_until
        ttl = cache.MAX_TTL_SECONDS if until is None else (until - now).total_seconds()
        cache.store(keys[:1], entry, ttl)


def _answer(
    keys: list[str],
    at: datetime | None,
    now: datetime | None,
    compute: Callable[[datetime], tuple[ResolvedSet, str, bytes | None]],
) -> Answer:
    """The answer at ``at`` (None: now) from the cache under ``keys``, else ``compute(moment)``
    (the resolved set, ETag and body), remembered for as long as it stays true."""
    now = now or timezone.now()
    moment = at or now
    generation, answer = _from_cache(keys, moment)
    if answer is not None:
        return answer
    result, etag, body = compute(moment)
    _remember(keys, at is not None, generation, result, etag, body, now)
    return Answer(etag, body, False, result.valid_until)


def institution_configuration(
    *, code: str, at: datetime | None, mask: bool, now: datetime | None = None
) -> Answer:
    """The resolved configuration of institution ``code`` at ``at`` (None: now), as the JSON
    object of the ``values`` member. Masked values for ``mask``. Raises UnknownInstitution."""

    def compute(moment: datetime) -> tuple[ResolvedSet, str, bytes | None]:
        institution = Institution.objects.filter(code=code).first()
        if institution is None:
            raise UnknownInstitution(code)
        result = resolve_institution_uncached(institution=institution, at=moment)
        values = {
            key: resolved_to_dict(entry, mask=mask and key in result.sensitive)
            for key, entry in result.resolved.items()
        }
        body = _encode(values)
        etag = digest_etag("institution", code, "masked" if mask else "clear", _digest(body))
        return result, etag, body

    return _answer(cache.institution_keys(code, mask, at), at, now, compute)


def key_resolution(
    *, key: str, code: str | None, at: datetime | None, mask: bool, now: datetime | None = None
) -> Answer:
    """The resolved value of ``key`` for institution ``code`` (None: global) at ``at`` (None:
    now) as the JSON body of the resolve endpoint; body None when the key resolves to nothing.
    Raises UnknownConfiguration or UnknownInstitution."""

    def compute(moment: datetime) -> tuple[ResolvedSet, str, bytes | None]:
        configuration = Configuration.objects.filter(key=key).first()
        if configuration is None:
            raise UnknownConfiguration(key)
        institution = None
        if code is not None:
            institution = Institution.objects.filter(code=code).first()
            if institution is None:
                raise UnknownInstitution(code)
        result = resolve_key_uncached(
            configuration=configuration, institution=institution, at=moment
        )
        entry = result.resolved.get(key)
        if entry is None:
            body = None
        else:
            body = _encode(
                {"key": key, **resolved_to_dict(entry, mask=mask and key in result.sensitive)}
            )
        etag = digest_etag("key", key, code or "", "masked" if mask else "clear", _digest(body))
        return result, etag, body

    return _answer(cache.key_keys(key, code, mask, at), at, now, compute)
