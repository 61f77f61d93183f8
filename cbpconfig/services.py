"""Generic write helpers used by every app's services: validate, lock, bump, save, audit.

Every write path (API, admin, commands) goes through an app service built on these, so a rule
cannot be skipped through a side door. Uniqueness is left to the database (a duplicate is an
IntegrityError, answered 409), everything else is checked by full_clean().
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.db import models, transaction

from cbpconfig.versioning import bump, lock

M = TypeVar("M", bound=models.Model)


def create_object(
    model: type[M], *, data: Mapping[str, Any], after_commit: Callable[[], None] | None = None
) -> M:
    with transaction.atomic():
        obj = model(**data)
        obj.full_clean(validate_unique=False, validate_constraints=False)
        obj.save()
        if after_commit:
            transaction.on_commit(after_commit)
    return obj


def update_object(
    instance: M,
    *,
    data: Mapping[str, Any],
    expected_version: int | None,
    after_commit: Callable[[], None] | None = None,
    validate: Callable[[M], None] | None = None,
) -> M:
    """Lock the row, check the version, apply the changes, validate, bump and save."""
    model = type(instance)
    with transaction.atomic():
        obj = lock(model._default_manager.all(), expected_version=expected_version, pk=instance.pk)
        for name, value in data.items():
            setattr(obj, name, value)
        obj.full_clean(validate_unique=False, validate_constraints=False)
        if validate:
            validate(obj)
        bump(obj)
        obj.save()
        if after_commit:
            transaction.on_commit(after_commit)
    return obj


def delete_object(
    instance: models.Model,
    *,
    expected_version: int | None,
    after_commit: Callable[[], None] | None = None,
) -> None:
    model = type(instance)
    with transaction.atomic():
        obj = lock(model._default_manager.all(), expected_version=expected_version, pk=instance.pk)
        obj.delete()
        if after_commit:
            transaction.on_commit(after_commit)
