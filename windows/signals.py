"""Every change of a window, one of its rules or overrides bumps the window's coherence name
after commit (:mod:`cbpconfig.cache`), whatever path made it: services, admin, ``loaddata``,
a shell, a restore. Cache work only; the rules stay in the services."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from cbpconfig import cache as coherence
from windows.cache import name
from windows.models import ProcessingWindow, WindowOverride, WindowRule


def _window_code(instance: WindowRule | WindowOverride) -> str | None:
    if type(instance).window.is_cached(instance):
        return instance.window.code
    return (
        ProcessingWindow.objects.filter(pk=instance.window_id)
        .values_list("code", flat=True)
        .first()
    )


def window_changed(sender, instance: ProcessingWindow, **kwargs) -> None:
    coherence.bump(name(instance.code))


def child_changed(sender, instance: WindowRule | WindowOverride, **kwargs) -> None:
    code = _window_code(instance)
    if code:
        coherence.bump(name(code))


def connect() -> None:
    uid = "windows.signals."
    post_save.connect(window_changed, sender=ProcessingWindow, dispatch_uid=uid + "w_save")
    post_delete.connect(window_changed, sender=ProcessingWindow, dispatch_uid=uid + "w_del")
    for model in (WindowRule, WindowOverride):
        label = model._meta.model_name
        post_save.connect(child_changed, sender=model, dispatch_uid=f"{uid}{label}_save")
        post_delete.connect(child_changed, sender=model, dispatch_uid=f"{uid}{label}_del")
