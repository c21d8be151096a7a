"""Undo of an agent's own triage: a row per undone decision, append-only like decisions."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MESSAGE = "triage_decisionundo is append-only: an undo is never rewritten"

TRIGGER_SQL = {
    "postgresql": (
        f"""
        CREATE OR REPLACE FUNCTION triage_decisionundo_append_only() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '{MESSAGE}';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER triage_decisionundo_no_update BEFORE UPDATE ON triage_decisionundo
            FOR EACH ROW EXECUTE FUNCTION triage_decisionundo_append_only();
        """,
        """
        DROP TRIGGER IF EXISTS triage_decisionundo_no_update ON triage_decisionundo;
        DROP FUNCTION IF EXISTS triage_decisionundo_append_only();
        """,
    ),
    "sqlite": (
        f"""
        CREATE TRIGGER triage_decisionundo_no_update BEFORE UPDATE ON triage_decisionundo
        BEGIN
            SELECT RAISE(ABORT, '{MESSAGE}');
        END;
        """,
        "DROP TRIGGER IF EXISTS triage_decisionundo_no_update;",
    ),
}


def add_trigger(apps, schema_editor):
    sql = TRIGGER_SQL.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql[0])


def drop_trigger(apps, schema_editor):
    sql = TRIGGER_SQL.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql[1])


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0022_queue_filters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DecisionUndo",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "agent",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "decision",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="undo",
                        to="triage.decision",
                    ),
                ),
            ],
        ),
        migrations.RunPython(add_trigger, drop_trigger),
    ]
