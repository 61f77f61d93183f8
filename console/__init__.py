"""The operations console: the pages an operations team works in, on top of Django's admin.

An app at the entry level, like ``cbpconfig/urls.py``: it reads every domain app (through
their selectors and services) to answer "what needs my attention", to show an institution
whole, to import holidays and to check a configuration value as it is typed. Nothing imports
it but the entry (``cbpconfig/urls.py`` includes :mod:`console.urls`); the domain apps' admin
pages link to its pages by URL name only.

The console's domain-free pieces stay in the plumbing, where every app's admin can use them:
the widgets, the history told from the audit log and the API-key pages
(:mod:`cbpconfig.console`). What is one domain's own lives in that app: the window's status
and preview (:mod:`windows.preview`), the holiday catalogue (:mod:`calendars.holiday_catalog`),
the configuration value editors (:mod:`configuration.widgets`).

Pages live under ``/admin/`` (``console.urls`` is tried before the admin's own patterns), are
wrapped by ``admin.site.admin_view`` (staff log-in, CSRF, no caching) and check model
permissions like the admin does: an auditor sees everything and changes nothing.
Scripts are static files (the Content-Security-Policy allows ``'self'`` only).
"""
