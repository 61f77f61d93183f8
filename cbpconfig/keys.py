"""API keys: the one place that issues and revokes them (the console and the command alike).

A key's scope — platform or one institution, read-only or writing — is fixed when it is issued:
changing the scope of a key that a system already holds would silently widen what it can do.
The raw key is returned once, to be shown once; only its hash is stored. Every issue and
revocation is in the audit log (``cbpconfig.APIKey`` is registered with auditlog, its hash
excluded).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from django.core.exceptions import ValidationError
from django.db import models, transaction

from cbpconfig.models import APIKey

NAME_MAX_LENGTH = 50


def issue_key(
    *,
    name: str,
    institution: models.Model | None = None,
    can_write: bool = False,
    expiry_date: datetime | None = None,
) -> tuple[APIKey, str]:
    """Create a key and return it with its raw value (shown once, never stored).

    An institution key never writes (the contract, and a database constraint)."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": [f"Give a name of 1-{NAME_MAX_LENGTH} characters."]})
    if institution is not None and can_write:
        raise ValidationError(
            {"can_write": ["An institution key never writes: only platform keys may."]}
        )
    with transaction.atomic():
        key, raw = APIKey.objects.create_key(
            name=name, institution=institution, can_write=bool(can_write), expiry_date=expiry_date
        )
    # The manager's create_key is typed for the abstract key; it builds its own model.
    return cast("APIKey", key), raw


def revoke_key(*, key: APIKey) -> APIKey:
    """Revoke ``key`` for good (a revoked key cannot be restored; issue a new one). This
    process forgets it at once; other processes within ``CBP_API_KEY_CACHE_SECONDS``."""
    from cbpconfig.api.authentication import forget_keys

    with transaction.atomic():
        locked = APIKey.objects.select_for_update().get(pk=key.pk)
        if not locked.revoked:
            locked.revoked = True
            locked.save(update_fields=["revoked"])
        transaction.on_commit(forget_keys)
    return locked
