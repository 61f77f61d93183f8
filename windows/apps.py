from django.apps import AppConfig


class WindowsConfig(AppConfig):
    name = "windows"
    default_auto_field = "django.db.models.BigAutoField"
