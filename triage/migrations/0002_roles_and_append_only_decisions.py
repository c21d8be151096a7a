"""Create the role groups and make decisions append-only in the database itself."""

from django.db import migrations

from triage.roles import GROUP_PERMISSIONS, sync_groups

APPEND_ONLY_SQL = {
    "postgresql": (
        """
        CREATE OR REPLACE FUNCTION triage_decision_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'triage_decision is append-only: decisions are never rewritten';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER triage_decision_no_update BEFORE UPDATE ON triage_decision
            FOR EACH ROW EXECUTE FUNCTION triage_decision_append_only();
        """,
        """
        DROP TRIGGER IF EXISTS triage_decision_no_update ON triage_decision;
        DROP FUNCTION IF EXISTS triage_decision_append_only();
        """,
    ),
    "sqlite": (
        """
        CREATE TRIGGER triage_decision_no_update BEFORE UPDATE ON triage_decision
        BEGIN
            SELECT RAISE(ABORT, 'triage_decision is append-only: decisions are never rewritten');
        END;
        """,
        "DROP TRIGGER IF EXISTS triage_decision_no_update;",
    ),
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure ours exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    sync_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"), strict=False)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUP_PERMISSIONS)).delete()


def add_trigger(apps, schema_editor):
    sql = APPEND_ONLY_SQL.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql[0])


def drop_trigger(apps, schema_editor):
    sql = APPEND_ONLY_SQL.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql[1])


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_groups, remove_groups),
        migrations.RunPython(add_trigger, drop_trigger),
    ]
