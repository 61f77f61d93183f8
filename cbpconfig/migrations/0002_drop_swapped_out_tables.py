"""Drop the tables of swapped-out third-party models.

AUDITLOG_LOGENTRY_MODEL points at cbpconfig.AuditEntry and WAFFLE_FLAG_MODEL at flags.Flag, but
the migrations of django-auditlog and django-waffle still create `auditlog_logentry` and
`waffle_flag` (with its user and group tables). Left in place they are dead weight whose foreign
keys to auth_user and auth_group stop Django from truncating those tables (test flushes,
restores). Both packages are pinned in requirements.txt: check their new migrations before an
upgrade.
"""

from django.db import migrations

TABLES = ("auditlog_logentry", "waffle_flag_groups", "waffle_flag_users", "waffle_flag")


def drop_tables(apps, schema_editor):
    cascade = " CASCADE" if schema_editor.connection.vendor == "postgresql" else ""
    for table in TABLES:
        schema_editor.execute(f"DROP TABLE IF EXISTS {table}{cascade}")


class Migration(migrations.Migration):
    dependencies = [
        ("cbpconfig", "0001_initial"),
        ("auditlog", "0017_add_actor_email"),
        ("waffle", "0004_update_everyone_nullbooleanfield"),
    ]

    operations = [migrations.RunPython(drop_tables, migrations.RunPython.noop)]
