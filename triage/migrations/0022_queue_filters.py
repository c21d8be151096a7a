from django.db import migrations, models

# The queue page's search (selectors.queue_tickets: `subject__icontains`, `body__icontains`,
# which PostgreSQL runs as UPPER(column) LIKE UPPER(pattern)) over the waiting tickets
# alone: trigram indexes on exactly those expressions. SQLite scans.
SEARCH_SQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ticket_waiting_subject_trgm ON triage_ticket "
    "USING gin (UPPER(subject::text) gin_trgm_ops) WHERE status = 'new'",
    "CREATE INDEX IF NOT EXISTS ticket_waiting_body_trgm ON triage_ticket "
    "USING gin (UPPER(body::text) gin_trgm_ops) WHERE status = 'new'",
]
SEARCH_DROP_SQL = [
    "DROP INDEX IF EXISTS ticket_waiting_subject_trgm",
    "DROP INDEX IF EXISTS ticket_waiting_body_trgm",
]


def search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in SEARCH_SQL:
            schema_editor.execute(sql)


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in SEARCH_DROP_SQL:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0021_prediction_rule_matched"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="prediction",
            index=models.Index(
                condition=models.Q(("is_live", True)),
                fields=["suggested", "confidence"],
                name="prediction_live_suggested",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                models.OrderBy(models.F("urgent"), descending=True),
                models.OrderBy(models.F("received_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                condition=models.Q(("status", "new")),
                name="ticket_waiting_order",
            ),
        ),
        migrations.RunPython(search_indexes, drop_search_indexes),
    ]
