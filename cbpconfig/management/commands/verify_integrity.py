"""`manage.py verify_integrity`: re-validate every stored domain object with the API's rules.

Single-object rules: each object's full_clean(). Cross-object rules (overlapping sessions,
values against their definition's schema, references): each app's AppConfig may provide
`integrity_problems() -> Iterable[str]`. Prints each violation; exit 1 if any."""

from __future__ import annotations

import sys
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError

from cbpconfig.backup import domain_models
from cbpconfig.management.base import OperationsCommand, one_line


class Command(OperationsCommand):
    help = "Re-validate every stored object (single-object and cross-object rules); exit 1 on any violation."

    def handle(self, *args: Any, **options: Any) -> None:
        problems: list[str] = []
        checked = 0
        for model in domain_models():
            for obj in model._default_manager.all().iterator(chunk_size=500):
                checked += 1
                try:
                    obj.full_clean(validate_unique=True, validate_constraints=True)
                except ValidationError as exc:
                    problems.append(f"{model._meta.label_lower} {obj.pk} ({obj}): {one_line(exc)}")
        for app_config in apps.get_app_configs():
            check = getattr(app_config, "integrity_problems", None)
            if callable(check):
                problems.extend(check())
        for problem in problems:
            self.stdout.write(problem)
        if problems:
            self.stderr.write(f"{len(problems)} violation(s) in {checked} objects")
            sys.exit(1)
        self.stdout.write(f"ok: {checked} objects valid")
