"""WSGI entry point for gunicorn."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbpconfig.settings")

from django.core.exceptions import ImproperlyConfigured

from cbpconfig.config import SettingsError

try:
    from cbpconfig.lean import application as lean_application

    # API-key requests to /api/ and /ofrep/ take the lean middleware path (cbpconfig.lean).
    application = lean_application()
except (SettingsError, ImproperlyConfigured) as exc:
    # One clear line, not a traceback, and a non-zero exit so the deployment fails fast.
    print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(3)
