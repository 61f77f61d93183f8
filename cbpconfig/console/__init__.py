"""The operations console: the pages an operations team works in, on top of Django's admin.

Like ``cbpconfig/urls.py`` this package sits at the entry level: it reads every app (through
their selectors and services) to answer "what needs my attention", to show an institution
whole and to tell each object's history. The plumbing modules of ``cbpconfig`` never import
it; ``cbpconfig.admin`` imports only :mod:`cbpconfig.console.apikeys`, which knows no domain app.

Pages live under ``/admin/`` (``cbpconfig.console.urls`` is tried before the admin's own
patterns), are wrapped by ``admin.site.admin_view`` (staff log-in, CSRF, no caching) and check
model permissions like the admin does: an auditor sees everything and changes nothing.
Scripts are static files (the Content-Security-Policy allows ``'self'`` only).
"""
