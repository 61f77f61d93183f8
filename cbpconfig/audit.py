"""Audit plumbing: who did it, from where, in which request, on which system.

django-auditlog writes the entries; this module fills in the actor for every path a change can
take: a session user (admin, browsable API), an API key (authenticated inside DRF, after the
middleware has run, so auditlog's own middleware would miss it), and a management command.

Every entry also records the system that made it: ``additional_data["system"]`` holds the host,
the release and the environment (a receiver on the entry model's ``pre_save``, so no path can
write an entry without it). And every entry that commits is one INFO log line naming the
object, the actor and the change, and one count in ``cbp_domain_changes_total``: the one place
where every write of every app, whatever its path, is logged.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from auditlog.context import set_extra_data
from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from cbpconfig.models import AuditEntry

from cbpconfig.logging import (
    actor_var,
    current_actor,
    get_request_id,
    institution_var,
    system_context,
)

write_logger = logging.getLogger("cbpconfig.writes")

_ACTIONS = {0: "create", 1: "update", 2: "delete", 3: "access"}
# Above this many characters of JSON, a write line names the changed fields without values.
CHANGES_LOG_LIMIT = 2000


def _trusted(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(net, strict=False) for net in settings.CBP_TRUSTED_PROXIES
    )


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. X-Forwarded-For is believed only when the direct peer is a
    configured trusted proxy; then the right-most address that is not itself a proxy wins."""
    remote: str | None = request.META.get("REMOTE_ADDR") or None
    if remote and settings.CBP_TRUSTED_PROXIES and _trusted(remote):
        forwarded: list[str] = [
            p.strip() for p in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        ]
        for candidate in reversed([p for p in forwarded if p]):
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                break
            if not _trusted(candidate):
                return candidate
    return remote


def actor_name_for(request: HttpRequest) -> str | None:
    name = getattr(request, "cbp_actor_name", None)
    if name:
        return str(name)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return str(user.get_username())
    return None


class AuditContextMiddleware:
    """Open an auditlog context for each writing request; the actor is read lazily at save
    time so an API key authenticated later by DRF is still named."""

    SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
    # OFREP evaluations are POSTs that change nothing; skipping them saves ~0.1 ms each.
    READ_ONLY_PREFIXES = ("/ofrep/",)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method in self.SAFE or request.path.startswith(self.READ_ONLY_PREFIXES):
            return self.get_response(request)

        def actor() -> Any:
            user = getattr(request, "user", None)
            return user if user is not None and user.is_authenticated else None

        context = {
            "actor": actor(),
            "actor_name": lambda: actor_name_for(request),
            "remote_addr": client_ip(request),
            "cid": get_request_id,
        }
        with set_extra_data(context):
            return self.get_response(request)


@contextlib.contextmanager
def system_actor(command: str) -> Iterator[None]:
    """Attribute every change made inside (and every log line written) to `system:<command>`."""
    token = actor_var.set(f"system:{command}")
    try:
        with set_extra_data({"actor_name": f"system:{command}", "cid": get_request_id}):
            yield
    finally:
        actor_var.reset(token)


# -- system context and write lines ----------------------------------------------------------------


def add_system_context(sender: object, instance: AuditEntry, **kwargs: object) -> None:
    """pre_save receiver on the audit entry model: host, release and environment."""
    extra = instance.additional_data if isinstance(instance.additional_data, dict) else {}
    if "system" not in extra:
        instance.additional_data = {**extra, "system": dict(system_context())}


def _model_label(entry: AuditEntry) -> str:
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_id(entry.content_type_id)
    return f"{content_type.app_label}.{content_type.model}"


def log_write(entry: AuditEntry, context: dict[str, str | None] | None = None) -> None:
    """One INFO line for a committed audit entry, and its count. `context` is the request id,
    actor and institution of the change, taken when the entry was written (the commit may come
    later, e.g. after the request's context has ended)."""
    from cbpconfig import metrics

    context = context or {}
    action = _ACTIONS.get(entry.action, str(entry.action))
    model = _model_label(entry)
    actor = entry.actor_display or context.get("actor") or "unknown"
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    object_pk = entry.object_pk
    if model == "cbpconfig.apikey":  # an API key's pk embeds its hash: name the prefix only
        object_pk = str(object_pk).split(".", 1)[0]
    fields: dict[str, Any] = {
        "event": "write",
        "action": action,
        "model": model,
        "object_pk": object_pk,
        "object_repr": entry.object_repr,
        "by": actor,
        "changed_fields": sorted(changes),
    }
    try:
        if len(json.dumps(changes, default=str)) <= CHANGES_LOG_LIMIT:
            fields["changes"] = changes
    except (TypeError, ValueError):
        pass
    metrics.domain_change(model, action)
    write_logger.info(
        "%s %s %r by %s: %s",
        action,
        model,
        entry.object_repr,
        actor,
        ", ".join(sorted(changes)) or "no field changed",
        extra={
            "cbp": fields,
            "request_id": entry.cid or context.get("request_id"),
            "actor": actor,
            "institution": context.get("institution"),
        },
    )


def entry_saved(sender: object, instance: AuditEntry, created: bool, **kwargs: Any) -> None:
    """post_save receiver on the audit entry model: log the write once it commits (a write
    that is rolled back is not logged)."""
    if created:
        from django.db import transaction

        context = {
            "request_id": get_request_id(),
            "actor": current_actor(),
            "institution": institution_var.get(),
        }
        transaction.on_commit(
            partial(log_write, instance, context), using=kwargs.get("using"), robust=True
        )


def connect() -> None:
    from django.db.models.signals import post_save, pre_save

    model = settings.AUDITLOG_LOGENTRY_MODEL
    pre_save.connect(add_system_context, sender=model, dispatch_uid="cbpconfig.audit.system")
    post_save.connect(entry_saved, sender=model, dispatch_uid="cbpconfig.audit.write_line")
