"""Console log-in throttling and lock-out, per account and per client address (django-axes).

django-axes records each failed log-in (``axes.AccessAttempt`` rows, keyed by user name, client
address and user agent) and refuses the next attempts once a limit is reached, whatever the
password, until the cool-off has passed (``settings.AXES_COOLOFF_TIME``) or an operator resets
it (``manage.py axes_reset_username NAME`` / ``axes_reset_ip ADDRESS`` / ``axes_reset``).

What this module adds to it:

- two limits instead of one: ``AXES_FAILURE_LIMIT`` failures for one account (from any
  address), ``CBP_LOGIN_FAILURE_LIMIT_PER_ADDRESS`` for one address (across user names, so a
  shared office or proxy address is not locked by one person's typos);
- the client address is the one the rest of the service uses (``cbpconfig.audit.client_ip``:
  X-Forwarded-For believed only from ``CBP_TRUSTED_PROXIES``), set as
  ``AXES_CLIENT_IP_CALLABLE``;
- one WARNING log line per failure naming the user name and the address (never the password),
  and ``cbp_console_login_failures_total{reason}``;
- the lock-out answer is the console's log-in page with a message saying why (HTTP 429).

Only Django's ``authenticate()`` (the console's log-in form) goes through here: API keys are
checked by ``cbpconfig.api.authentication`` and never counted or locked.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from cbpconfig import metrics

logger = logging.getLogger("cbpconfig.login")

#: The longest user name written to the log (Django's own limit is 150).
_NAME_LIMIT = 150


def cool_off_minutes() -> int:
    cool_off = settings.AXES_COOLOFF_TIME
    if isinstance(cool_off, timedelta):
        return max(1, round(cool_off.total_seconds() / 60))
    return max(1, round(float(cool_off) * 60))  # axes reads a number as hours


def locked_message() -> str:
    return (
        "Too many failed log-in attempts for this account or from this address: log-in is "
        f"locked for {cool_off_minutes()} minutes. Try again later, or ask an administrator "
        "to unlock it."
    )


def _printable(username: object) -> str:
    """The user name as typed, quoted and escaped (a log line cannot be forged with it)."""
    return repr(str(username or "")[:_NAME_LIMIT])


class ConsoleLoginHandler(AxesDatabaseHandler):  # type: ignore[misc]  # django-axes ships no types
    """axes's database handler with a per-account and a per-address limit, a log line and a
    metric per failure (see the module docstring)."""

    def failure_counts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> dict[str, int]:
        """Failures within the cool-off, per lockout parameter (``username``,
        ``ip_address``)."""
        counts: dict[str, int] = {}
        parameters = get_lockout_parameters(request, credentials)
        for parameter, attempts in zip(
            parameters, self.get_user_attempts(request, credentials), strict=True
        ):
            name = parameter if isinstance(parameter, str) else "+".join(parameter)
            total = attempts.aggregate(total=Sum("failures_since_start"))["total"]
            counts[name] = total or 0
        return counts

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        # axes compares this one number with AXES_FAILURE_LIMIT (the per-account limit); an
        # address that has reached its own, higher limit counts as a locked account.
        counts = self.failure_counts(request, credentials)
        account = counts.get("username", 0)
        if counts.get("ip_address", 0) >= settings.CBP_LOGIN_FAILURE_LIMIT_PER_ADDRESS:
            return max(account, settings.AXES_FAILURE_LIMIT)
        return account

    def user_login_failed(
        self,
        sender: object,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        # With AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT off, axes's backend marks the
        # request before it refuses an attempt during a lock-out.
        refused = bool(request is not None and getattr(request, "axes_locked_out", False))
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None:
            return
        reason = "locked_out" if refused else "bad_credentials"
        metrics.console_login_failure(reason)
        username = _printable(get_client_username(request, credentials))
        address = getattr(request, "axes_ip_address", None) or "unknown"
        if refused:
            logger.warning(
                "console log-in refused for user %s from %s: locked out", username, address
            )
            return
        logger.warning(
            "console log-in failed for user %s from %s: wrong user name or password",
            username,
            address,
        )
        if getattr(request, "axes_locked_out", False):
            logger.warning(
                "console log-in locked for %d minutes for user %s and address %s after "
                "repeated failures",
                cool_off_minutes(),
                username,
                address,
            )


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The console's log-in page again, with the lock-out message (AXES_LOCKOUT_CALLABLE)."""
    from django.contrib import admin
    from django.contrib.admin.forms import AdminAuthenticationForm
    from django.contrib.auth import REDIRECT_FIELD_NAME

    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    username = str(get_client_username(request, credentials) or "")[:_NAME_LIMIT]
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "subtitle": None,
        "app_path": request.get_full_path(),
        "form": AdminAuthenticationForm(request, initial={"username": username}),
        REDIRECT_FIELD_NAME: target,
        "login_locked_message": locked_message(),
    }
    return render(request, "admin/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
