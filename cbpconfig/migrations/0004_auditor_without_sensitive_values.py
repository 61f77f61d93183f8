"""The Auditor role no longer sees the values of sensitive configurations in clear.

An auditor still sees that a sensitive value changed — when, by whom, on which configuration
and for which institution, in every object's history and in the change log — but not the
secret itself: pages show "********" (the audit log never holds the value, for anyone). Seeing
sensitive values in clear is granted explicitly, to a named person: the permission
``configuration.view_sensitive_value`` ("Can view values of sensitive configurations in
clear") on that user, or the Configuration administrator role (docs/operations.md, "Console
roles").

A new migration rather than an edit of 0003: databases where 0003 ran keep their history.
"""

from django.db import migrations

ROLE = "Auditor"
APP_LABEL, CODENAME = "configuration", "view_sensitive_value"


def _role_and_permission(apps):
    group = apps.get_model("auth", "Group").objects.filter(name=ROLE).first()
    permission = (
        apps.get_model("auth", "Permission")
        .objects.filter(content_type__app_label=APP_LABEL, codename=CODENAME)
        .first()
    )
    return group, permission


def withdraw(apps, schema_editor):
    group, permission = _role_and_permission(apps)
    if group is not None and permission is not None:
        group.permissions.remove(permission)


def grant_again(apps, schema_editor):
    group, permission = _role_and_permission(apps)
    if group is not None and permission is not None:
        group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [("cbpconfig", "0003_console_roles")]

    operations = [migrations.RunPython(withdraw, grant_again)]
