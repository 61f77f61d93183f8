"""WSGI entry point for gunicorn."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbpconfig.settings")

from django.core.exceptions import ImproperlyConfigured

from cbpconfig.config import SettingsError

try:
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
except (SettingsError, ImproperlyConfigured) as exc:
    # One clear line, not a traceback, and a non-zero exit so the deployment fails fast.
    print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(3)
