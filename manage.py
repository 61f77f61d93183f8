#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbpconfig.settings")
    from django.core.exceptions import ImproperlyConfigured

    from cbpconfig.config import SettingsError

    try:
        import django

        django.setup()
    except (SettingsError, ImproperlyConfigured) as exc:
        # A missing or malformed setting stops start-up with one line that names it.
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
