"""System checks for our own conventions."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, register


@register()
def waffle_flag_model_is_ours(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    from django.conf import settings

    if getattr(settings, "WAFFLE_FLAG_MODEL", None) != "flags.Flag":
        return [Error("WAFFLE_FLAG_MODEL must be 'flags.Flag'", id="cbp.E001")]
    return []
