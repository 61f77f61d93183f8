"""The console's roles, as groups with their permissions, so that nobody has to pick among
ninety permissions: give a staff user one (or more) of these groups.

- Operations editor: calendars and holidays, processing windows and their overrides, values
  of configurations; sees everything else (not sensitive values in clear).
- Configuration administrator: what an operations editor does, plus institutions,
  configuration definitions and flags, and sensitive values in clear.
- Auditor: sees everything — every page and field an editor sees, sensitive values, API keys,
  the audit log, users, log-in attempts — and changes nothing.
- API-key administrator: issues and revokes API keys (and sees institutions and the audit log).

The permissions are written here, not imported: a migration states the data as it was when
it ran. Running it again (or after new models) adds what is missing and removes nothing.
"""

from django.db import migrations

DOMAIN_MODELS = {
    "calendars": ["calendar", "holiday"],
    "configuration": ["institution", "configuration", "configurationvalue"],
    "windows": ["processingwindow", "windowrule", "windowoverride"],
    "flags": ["flag"],
    "cbpconfig": ["auditentry", "apikey"],
}
SEES_ALL_DOMAIN = [f"{app}.view_{model}" for app, models in DOMAIN_MODELS.items() for model in models]


def EDITS(app, model):
    return [f"{app}.{action}_{model}" for action in ("add", "change", "delete")]


OPERATIONS_EDITOR = [
    *SEES_ALL_DOMAIN,
    *EDITS("calendars", "calendar"),
    *EDITS("calendars", "holiday"),
    *EDITS("windows", "processingwindow"),
    *EDITS("windows", "windowrule"),
    *EDITS("windows", "windowoverride"),
    *EDITS("configuration", "configurationvalue"),
]
ROLES = {
    "Operations editor": OPERATIONS_EDITOR,
    "Configuration administrator": [
        *OPERATIONS_EDITOR,
        *EDITS("configuration", "institution"),
        *EDITS("configuration", "configuration"),
        *EDITS("flags", "flag"),
        "configuration.view_sensitive_value",
    ],
    "Auditor": [
        *SEES_ALL_DOMAIN,
        "configuration.view_sensitive_value",
        "auth.view_user",
        "auth.view_group",
        "axes.view_accessattempt",
        "axes.view_accesslog",
        "axes.view_accessfailurelog",
    ],
    "API-key administrator": [
        "cbpconfig.view_apikey",
        "cbpconfig.add_apikey",
        "cbpconfig.change_apikey",
        "configuration.view_institution",
        "cbpconfig.view_auditentry",
    ],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); this migration
    # needs them now, on a fresh database too.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = set()
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            wanted.add((app_label, codename))
        found = Permission.objects.filter(
            content_type__app_label__in={a for a, _ in wanted},
            codename__in={c for _, c in wanted},
        ).select_related("content_type")
        group.permissions.add(
            *[p for p in found if (p.content_type.app_label, p.codename) in wanted]
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cbpconfig", "0002_drop_swapped_out_tables"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("calendars", "0004_remove_calendar_data_version"),
        ("configuration", "0002_configurations_and_values"),
        ("windows", "0001_processing_windows"),
        ("flags", "0002_name_pattern_help_texts_rollout_check"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
