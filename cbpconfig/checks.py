"""System checks for our own conventions."""

from django.core.checks import Error, register


@register()
def waffle_flag_model_is_ours(app_configs, **kwargs):
    from django.conf import settings

    if getattr(settings, "WAFFLE_FLAG_MODEL", None) != "flags.Flag":
        return [Error("WAFFLE_FLAG_MODEL must be 'flags.Flag'", id="cbp.E001")]
    return []
