"""Every write to institutions and configurations."""

from __future__ import annotations

from typing import Any

from cbpconfig.services import create_object, delete_object, update_object
from configuration.models import Institution


def create_institution(*, data: dict[str, Any]) -> Institution:
    """Create an institution (validated by the model's rules; a duplicate code is a 409)."""
    return create_object(Institution, data=data)


def update_institution(
    *, institution: Institution, data: dict[str, Any], expected_version: int | None = None
) -> Institution:
    """Change an institution; `code` is immutable. StaleVersion when `expected_version` is old."""
    data = {k: v for k, v in data.items() if k != "code"}
    return update_object(institution, data=data, expected_version=expected_version)


def delete_institution(*, institution: Institution, expected_version: int | None = None) -> None:
    """Delete an institution; refused (409) while windows or values still refer to it."""
    delete_object(institution, expected_version=expected_version)
