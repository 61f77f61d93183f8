from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operations console's pages (no models)."""

    name = "console"
    verbose_name = "Operations console"
